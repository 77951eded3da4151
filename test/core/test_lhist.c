/*
 * Tests for core/lhist: quantiles of known samples are within 1/8 above the true value,
 * never below it; empty, zero and negative samples.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/lhist.h"

static ccd_lhist_t h; /* static: zero-initialised, as the header promises suffices */

static void near(uint64_t got, uint64_t want)
{
    assert_true(got >= want);
    assert_true(got <= want + want / 8 + 1);
}

static void test_quantiles(void **state)
{
    (void)state;
    assert_int_equal(ccd_lhist_quantile(&h, 0.5), 0);
    /* 1..10000 µs once each: p50 = 5000, p99 = 9900, p100 = 10000 */
    for (int64_t us = 1; us <= 10000; us++)
        ccd_lhist_add(&h, us);
    assert_int_equal(ccd_lhist_count(&h), 10000);
    near(ccd_lhist_quantile(&h, 0.5), 5001);
    near(ccd_lhist_quantile(&h, 0.99), 9901);
    near(ccd_lhist_quantile(&h, 1.0), 10000);
    near(ccd_lhist_quantile(&h, 0.0), 1);
}

static void test_small_and_negative(void **state)
{
    (void)state;
    ccd_lhist_t *s = &(ccd_lhist_t){0};
    ccd_lhist_add(s, -5);
    ccd_lhist_add(s, 0);
    ccd_lhist_add(s, 3);
    assert_int_equal(ccd_lhist_count(s), 3);
    assert_int_equal(ccd_lhist_quantile(s, 0.5), 0);
    assert_int_equal(ccd_lhist_quantile(s, 0.99), 3); /* below 8 the buckets are exact */
    ccd_lhist_add(s, INT64_MAX);
    assert_true(ccd_lhist_quantile(s, 1.0) >= (uint64_t)INT64_MAX / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantiles),
        cmocka_unit_test(test_small_and_negative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
