/*
 * The watched-queue table: which campaign_entry a queue gets (dates, daily
 * window, overnight windows, inactive rows, several open campaigns in any row
 * order) and the table's posting (replaced whole, over-long names dropped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "reg/reg.h"

static reg_inbound_campaign_t camp(int64_t id, int64_t queue_id, bool active, const char *d0,
                                   const char *d1, const char *t0, const char *t1)
{
    reg_inbound_campaign_t c;
    memset(&c, 0, sizeof(c));
    c.id = id;
    c.queue_id = queue_id;
    c.active = active;
    snprintf(c.date_init, sizeof(c.date_init), "%s", d0);
    snprintf(c.date_end, sizeof(c.date_end), "%s", d1);
    snprintf(c.time_init, sizeof(c.time_init), "%s", t0);
    snprintf(c.time_end, sizeof(c.time_end), "%s", t1);
    return c;
}

static void test_open_day_window(void **state)
{
    (void)state;
    reg_inbound_campaign_t c = camp(1, 1, true, "2026-12-01", "2026-12-31", "09:00:00", "18:00:00");
    assert_true(reg_inbound_campaign_open(&c, "2026-12-05", "09:00:00"));
    assert_true(reg_inbound_campaign_open(&c, "2026-12-05", "12:30:00"));
    assert_true(reg_inbound_campaign_open(&c, "2026-12-05", "18:00:00"));
    assert_false(reg_inbound_campaign_open(&c, "2026-12-05", "08:59:59"));
    assert_false(reg_inbound_campaign_open(&c, "2026-12-05", "18:00:01"));
    /* the dates are inclusive at both ends */
    assert_true(reg_inbound_campaign_open(&c, "2026-12-01", "10:00:00"));
    assert_true(reg_inbound_campaign_open(&c, "2026-12-31", "10:00:00"));
    assert_false(reg_inbound_campaign_open(&c, "2026-11-30", "10:00:00"));
    assert_false(reg_inbound_campaign_open(&c, "2027-01-01", "10:00:00"));
    /* an inactive campaign is never open */
    c.active = false;
    assert_false(reg_inbound_campaign_open(&c, "2026-12-05", "12:30:00"));
}

static void test_open_overnight_and_unset(void **state)
{
    (void)state;
    reg_inbound_campaign_t c = camp(1, 1, true, "2026-01-01", "2026-12-31", "22:00:00", "06:00:00");
    assert_true(reg_inbound_campaign_open(&c, "2026-12-05", "23:30:00"));
    assert_true(reg_inbound_campaign_open(&c, "2026-12-05", "22:00:00"));
    assert_true(reg_inbound_campaign_open(&c, "2026-12-05", "00:10:00"));
    assert_true(reg_inbound_campaign_open(&c, "2026-12-05", "06:00:00"));
    assert_false(reg_inbound_campaign_open(&c, "2026-12-05", "06:00:01"));
    assert_false(reg_inbound_campaign_open(&c, "2026-12-05", "12:00:00"));
    assert_false(reg_inbound_campaign_open(&c, "2026-12-05", "21:59:59"));
    /* equal ends: open that one second only */
    c = camp(1, 1, true, "", "", "10:00:00", "10:00:00");
    assert_true(reg_inbound_campaign_open(&c, "2026-12-05", "10:00:00"));
    assert_false(reg_inbound_campaign_open(&c, "2026-12-05", "10:00:01"));
    /* nothing set: open all day, every day */
    c = camp(1, 1, true, "", "", "", "");
    assert_true(reg_inbound_campaign_open(&c, "1999-01-01", "00:00:00"));
    assert_true(reg_inbound_campaign_open(&c, "2099-12-31", "23:59:59"));
}

static void test_choose(void **state)
{
    (void)state;
    reg_inbound_campaign_t c[] = {
        camp(7, 10, true, "2026-12-01", "2026-12-31", "00:00:00", "23:59:59"),  /* open */
        camp(3, 10, true, "2026-12-01", "2026-12-31", "08:00:00", "20:00:00"),  /* open, lower id */
        camp(2, 10, false, "2026-12-01", "2026-12-31", "00:00:00", "23:59:59"), /* inactive */
        camp(1, 10, true, "2027-01-01", "2027-12-31", "00:00:00", "23:59:59"),  /* not yet */
        camp(9, 11, true, "2026-12-01", "2026-12-31", "20:00:00", "21:00:00"),  /* closed now */
        camp(5, 12, true, "2026-12-01", "2026-12-31", "22:00:00", "02:00:00"),  /* overnight */
    };
    size_t nc = sizeof(c) / sizeof(c[0]);
    reg_inbound_queue_t q[3] = {{"8000", 10, 99}, {"8001", 11, 99}, {"8002", 12, 99}};
    reg_inbound_choose(q, 3, c, nc, "2026-12-05", "12:00:00");
    assert_int_equal(q[0].campaign_id, 3);
    assert_int_equal(q[1].campaign_id, 0); /* stale values are cleared */
    assert_int_equal(q[2].campaign_id, 0);
    /* in the evening the first one closes, the overnight one opens */
    reg_inbound_choose(q, 3, c, nc, "2026-12-05", "20:30:00");
    assert_int_equal(q[0].campaign_id, 7);
    assert_int_equal(q[1].campaign_id, 9);
    assert_int_equal(q[2].campaign_id, 0);
    reg_inbound_choose(q, 3, c, nc, "2026-12-05", "23:00:00");
    assert_int_equal(q[2].campaign_id, 5);
    /* every row order gives the same choice (rotations of the rows) */
    for (size_t rot = 0; rot < nc; rot++) {
        reg_inbound_campaign_t r[sizeof(c) / sizeof(c[0])];
        for (size_t i = 0; i < nc; i++)
            r[i] = c[(i + rot) % nc];
        reg_inbound_choose(q, 3, r, nc, "2026-12-05", "12:00:00");
        assert_int_equal(q[0].campaign_id, 3);
        reg_inbound_choose(q, 3, r, nc, "2026-12-05", "20:30:00");
        assert_int_equal(q[0].campaign_id, 7);
    }
}

static const reg_inbound_queue_t *seen;

static void apply_lookup(reg_txn_t *tx, void *arg)
{
    seen = reg_txn_inbound(tx, arg);
}

static const reg_inbound_queue_t *lookup(reg_t *r, const char *queue)
{
    seen = NULL;
    assert_int_equal(reg_post(r, apply_lookup, (void *)queue, NULL), 0);
    reg_drain(r);
    return seen;
}

static void test_post_table(void **state)
{
    (void)state;
    reg_t *r = reg_new(100, NULL, 0);
    assert_non_null(r);
    assert_null(lookup(r, "8000"));
    reg_inbound_queue_t *l = calloc(3, sizeof(*l));
    l[0] = (reg_inbound_queue_t){"8000", 1, 4};
    l[1] = (reg_inbound_queue_t){"8001", 2, 0};
    memset(l[2].queue, 'x', sizeof(l[2].queue)); /* no terminator: dropped */
    l[2].queue_id = 3;
    assert_int_equal(reg_post_inbound(r, l, 3), 0);
    reg_drain(r);
    assert_int_equal(reg_inbound_count(r), 2);
    const reg_inbound_queue_t *q = lookup(r, "8000");
    assert_non_null(q);
    assert_int_equal(q->queue_id, 1);
    assert_int_equal(q->campaign_id, 4);
    assert_null(lookup(r, "800"));
    assert_null(lookup(r, ""));
    /* a new table replaces the old one whole */
    l = calloc(1, sizeof(*l));
    l[0] = (reg_inbound_queue_t){"8001", 2, 6};
    assert_int_equal(reg_post_inbound(r, l, 1), 0);
    reg_drain(r);
    assert_int_equal(reg_inbound_count(r), 1);
    assert_null(lookup(r, "8000"));
    assert_int_equal(lookup(r, "8001")->campaign_id, 6);
    /* an empty table watches nothing */
    assert_int_equal(reg_post_inbound(r, NULL, 0), 0);
    reg_drain(r);
    assert_int_equal(reg_inbound_count(r), 0);
    assert_null(lookup(r, "8001"));
    reg_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_day_window),
        cmocka_unit_test(test_open_overnight_and_unset),
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_post_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
