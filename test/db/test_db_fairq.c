/*
 * The fair read queue (db/db_fairq.c), pure: the exact service order (owners
 * round-robin one job per turn, each owner's jobs in order, newcomers at the
 * end of the turn, lanes apart), and every bound (lane total, per client, per
 * address in the NORMAL lane only, the engine's owner 0 unbounded per client),
 * with the counts freed as jobs leave.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "db/db_int.h"

#define NJOBS 64

typedef struct tjob {
    db_read_job_t job;
    char name[8];
} tjob_t;

static tjob_t jobs[NJOBS];
static int njobs;

static db_read_job_t *mk(uint64_t owner, int lane, const char *addr, const char *name)
{
    assert_true(njobs < NJOBS);
    tjob_t *t = &jobs[njobs++];
    memset(t, 0, sizeof(*t));
    t->job.owner = owner;
    t->job.lane = lane;
    snprintf(t->job.addr, sizeof(t->job.addr), "%s", addr);
    snprintf(t->name, sizeof(t->name), "%s", name);
    return &t->job;
}

static void push_ok(db_fairq_t *q, uint64_t owner, int lane, const char *addr, const char *name)
{
    assert_int_equal(db__fairq_push(q, mk(owner, lane, addr, name), NULL), 0);
}

static int push_why(db_fairq_t *q, uint64_t owner, int lane, const char *addr, char *why)
{
    *why = 0;
    db_read_job_t *j = mk(owner, lane, addr, "x");
    int rc = db__fairq_push(q, j, why);
    if (rc == 0)
        *why = '-';
    return rc;
}

/* Pops the whole lane and returns the names in order, space-separated. */
static const char *drain(db_fairq_t *q, int lane)
{
    static char out[512];
    out[0] = '\0';
    db_read_job_t *j;
    while ((j = db__fairq_pop(q, lane)) != NULL) {
        if (out[0])
            strcat(out, " ");
        strcat(out, ((tjob_t *)j)->name);
    }
    return out;
}

static int reset(void **state)
{
    (void)state;
    njobs = 0;
    return 0;
}

static void test_round_robin_order(void **state)
{
    (void)state;
    db_fairq_t *q = db__fairq_new(100, 100, 100);
    assert_non_null(q);
    assert_null(db__fairq_pop(q, DB_LANE_NORMAL));
    push_ok(q, 1, DB_LANE_NORMAL, "a", "A1");
    push_ok(q, 1, DB_LANE_NORMAL, "a", "A2");
    push_ok(q, 1, DB_LANE_NORMAL, "a", "A3");
    push_ok(q, 2, DB_LANE_NORMAL, "b", "B1");
    push_ok(q, 2, DB_LANE_NORMAL, "b", "B2");
    push_ok(q, 0, DB_LANE_NORMAL, "", "E1"); /* the engine is one owner like the others */
    assert_int_equal(db__fairq_depth(q, DB_LANE_NORMAL), 6);
    assert_string_equal(drain(q, DB_LANE_NORMAL), "A1 B1 E1 A2 B2 A3");
    assert_int_equal(db__fairq_depth(q, DB_LANE_NORMAL), 0);

    /* a newcomer joins at the end of the current turn, not before owners already waiting */
    push_ok(q, 1, DB_LANE_NORMAL, "a", "A4");
    push_ok(q, 1, DB_LANE_NORMAL, "a", "A5");
    push_ok(q, 2, DB_LANE_NORMAL, "b", "B3");
    db_read_job_t *j = db__fairq_pop(q, DB_LANE_NORMAL);
    assert_string_equal(((tjob_t *)j)->name, "A4");
    push_ok(q, 3, DB_LANE_NORMAL, "c", "C1"); /* turn now: B3, then A5, then C1 */
    push_ok(q, 2, DB_LANE_NORMAL, "b", "B4"); /* B's next job waits for the next turn */
    assert_string_equal(drain(q, DB_LANE_NORMAL), "B3 A5 C1 B4");

    /* lanes are separate queues: an owner's AUTH job is not behind its NORMAL ones */
    push_ok(q, 1, DB_LANE_NORMAL, "a", "N1");
    push_ok(q, 1, DB_LANE_NORMAL, "a", "N2");
    push_ok(q, 2, DB_LANE_AUTH, "b", "L2");
    push_ok(q, 1, DB_LANE_AUTH, "a", "L1");
    assert_int_equal(db__fairq_depth(q, DB_LANE_AUTH), 2);
    assert_string_equal(drain(q, DB_LANE_AUTH), "L2 L1");
    assert_string_equal(drain(q, DB_LANE_NORMAL), "N1 N2");
    db_fairq_stats_t st;
    db__fairq_stats(q, &st);
    assert_int_equal(st.high_water, 6);
    assert_int_equal(st.refused_total + st.refused_client + st.refused_address, 0);
    db__fairq_free(q);
}

static void test_one_flooder_does_not_delay_others(void **state)
{
    (void)state;
    db_fairq_t *q = db__fairq_new(1000, 1000, 1000);
    for (int i = 0; i < 40; i++)
        push_ok(q, 7, DB_LANE_NORMAL, "h", "F");
    push_ok(q, 8, DB_LANE_NORMAL, "w", "W");
    /* FIFO would serve 40 flood jobs first; fair order serves the witness second */
    db_read_job_t *j = db__fairq_pop(q, DB_LANE_NORMAL);
    assert_string_equal(((tjob_t *)j)->name, "F");
    j = db__fairq_pop(q, DB_LANE_NORMAL);
    assert_string_equal(((tjob_t *)j)->name, "W");
    while (db__fairq_pop(q, DB_LANE_NORMAL))
        ;
    db__fairq_free(q);
}

static void test_bounds(void **state)
{
    (void)state;
    /* lane total 6, per client 3, per address 4 */
    db_fairq_t *q = db__fairq_new(6, 3, 4);
    char why;
    for (int i = 0; i < 3; i++)
        assert_int_equal(push_why(q, 1, DB_LANE_NORMAL, "10.0.0.1", &why), 0);
    /* client 1 full */
    assert_int_equal(push_why(q, 1, DB_LANE_NORMAL, "10.0.0.1", &why), CCD_EFULL);
    assert_int_equal(why, 'C');
    assert_int_equal(push_why(q, 1, DB_LANE_AUTH, "10.0.0.1", &why), CCD_EFULL);
    assert_int_equal(why, 'C'); /* the client bound counts both lanes */
    /* another client of the same address: one more fits, then the address is full */
    assert_int_equal(push_why(q, 2, DB_LANE_NORMAL, "10.0.0.1", &why), 0);
    assert_int_equal(push_why(q, 2, DB_LANE_NORMAL, "10.0.0.1", &why), CCD_EFULL);
    assert_int_equal(why, 'A');
    /* ... but its logins/agent checks still get in: the AUTH lane has no address bound */
    assert_int_equal(push_why(q, 2, DB_LANE_AUTH, "10.0.0.1", &why), 0);
    assert_int_equal(push_why(q, 3, DB_LANE_AUTH, "10.0.0.1", &why), 0);
    /* another address is not held back by the full one */
    assert_int_equal(push_why(q, 4, DB_LANE_NORMAL, "10.0.0.2", &why), 0);
    /* the engine's jobs have no client bound ... */
    assert_int_equal(push_why(q, 0, DB_LANE_NORMAL, "", &why), 0);
    /* ... but the lane total holds for everyone (NORMAL: 3 + 1 + 1 + 1 = 6) */
    assert_int_equal(db__fairq_depth(q, DB_LANE_NORMAL), 6);
    assert_int_equal(push_why(q, 0, DB_LANE_NORMAL, "", &why), CCD_EFULL);
    assert_int_equal(why, 'T');
    assert_int_equal(push_why(q, 5, DB_LANE_NORMAL, "10.0.0.3", &why), CCD_EFULL);
    assert_int_equal(why, 'T');
    /* the AUTH lane has its own total: a full NORMAL lane never refuses a login */
    for (int i = 0; i < 4; i++)
        assert_int_equal(push_why(q, (uint64_t)(10 + i), DB_LANE_AUTH, "10.0.0.9", &why), 0);
    assert_int_equal(db__fairq_depth(q, DB_LANE_AUTH), 6);
    assert_int_equal(push_why(q, 20, DB_LANE_AUTH, "10.0.0.9", &why), CCD_EFULL);
    assert_int_equal(why, 'T');
    assert_int_equal(push_why(q, 20, 2, "", &why), CCD_EINVAL);
    assert_int_equal(push_why(q, 20, -1, "", &why), CCD_EINVAL);

    db_fairq_stats_t st;
    db__fairq_stats(q, &st);
    assert_int_equal(st.refused_client, 2);
    assert_int_equal(st.refused_address, 1);
    assert_int_equal(st.refused_total, 3);
    assert_int_equal(st.high_water, 12);

    /* taking jobs frees their counts: client 1 and the address get room again */
    db_read_job_t *j = db__fairq_pop(q, DB_LANE_NORMAL); /* client 1's first */
    assert_int_equal(j->owner, 1);
    j = db__fairq_pop(q, DB_LANE_NORMAL); /* then client 2's */
    assert_int_equal(j->owner, 2);
    assert_int_equal(push_why(q, 1, DB_LANE_NORMAL, "10.0.0.1", &why), 0);
    assert_int_equal(push_why(q, 1, DB_LANE_NORMAL, "10.0.0.1", &why), CCD_EFULL);
    assert_int_equal(why, 'C');
    while (db__fairq_pop(q, DB_LANE_NORMAL))
        ;
    while (db__fairq_pop(q, DB_LANE_AUTH))
        ;
    for (int i = 0; i < 3; i++)
        assert_int_equal(push_why(q, 1, DB_LANE_NORMAL, "10.0.0.1", &why), 0);
    assert_int_equal(push_why(q, 2, DB_LANE_NORMAL, "10.0.0.1", &why), 0);
    assert_int_equal(push_why(q, 3, DB_LANE_NORMAL, "10.0.0.1", &why), CCD_EFULL);
    assert_int_equal(why, 'A');
    while (db__fairq_pop(q, DB_LANE_NORMAL))
        ;
    db__fairq_free(q);
}

/* Many owners coming and going: every job comes out once, each owner's in order. */
static void test_churn_keeps_per_owner_order(void **state)
{
    (void)state;
    enum { OWNERS = 7, ROUNDS = 2000 };
    static db_read_job_t pool[OWNERS * ROUNDS];
    int next_seq[OWNERS] = {0}, want_seq[OWNERS] = {0};
    db_fairq_t *q = db__fairq_new(1 << 20, 1 << 20, 1 << 20);
    unsigned rnd = 12345;
    int used = 0, popped = 0;
    for (int r = 0; r < ROUNDS * OWNERS; r++) {
        rnd = rnd * 1103515245u + 12345u;
        int o = (int)((rnd >> 16) % OWNERS);
        if (used < OWNERS * ROUNDS && ((rnd >> 8) & 3) != 0) {
            db_read_job_t *j = &pool[used++];
            memset(j, 0, sizeof(*j));
            j->owner = (uint64_t)o + 1;
            j->status = next_seq[o]++; /* the sequence travels in status */
            snprintf(j->addr, sizeof(j->addr), "h%d", o % 3);
            assert_int_equal(db__fairq_push(q, j, NULL), 0);
        } else {
            db_read_job_t *j = db__fairq_pop(q, DB_LANE_NORMAL);
            if (j) {
                int oo = (int)j->owner - 1;
                assert_int_equal(j->status, want_seq[oo]++);
                popped++;
            }
        }
    }
    db_read_job_t *j;
    while ((j = db__fairq_pop(q, DB_LANE_NORMAL)) != NULL) {
        int oo = (int)j->owner - 1;
        assert_int_equal(j->status, want_seq[oo]++);
        popped++;
    }
    assert_int_equal(popped, used);
    for (int o = 0; o < OWNERS; o++)
        assert_int_equal(want_seq[o], next_seq[o]);
    db__fairq_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_round_robin_order, reset),
        cmocka_unit_test_setup(test_one_flooder_does_not_delay_others, reset),
        cmocka_unit_test_setup(test_bounds, reset),
        cmocka_unit_test(test_churn_keeps_per_owner_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
