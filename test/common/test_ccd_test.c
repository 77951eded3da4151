/*
 * The shared test helpers: how CCD_TEST_TIMEOUT_MULTIPLIER is read (a bad value
 * must not shrink or zero a deadline), and that a wait returns as soon as its
 * condition holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "test/common/ccd_test.h"

static void test_multiplier(void **state)
{
    (void)state;
    static const struct {
        const char *value; /* NULL: unset */
        int want;
    } cases[] = {
        {NULL, 1}, {"", 1}, {"1", 1}, {"3", 3}, {"5", 5}, {"0", 1},  {"-2", 1},
        {"abc", 1}, {"2x", 1}, {" 4", 4}, {"100", 100}, {"1000", 100},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].value)
            setenv("CCD_TEST_TIMEOUT_MULTIPLIER", cases[i].value, 1);
        else
            unsetenv("CCD_TEST_TIMEOUT_MULTIPLIER");
        if (ccd_test_timeout_multiplier() != cases[i].want)
            fail_msg("'%s' gave %d, want %d", cases[i].value ? cases[i].value : "(unset)",
                     ccd_test_timeout_multiplier(), cases[i].want);
        assert_int_equal(ccd_test_timeout_ms(1500), 1500 * cases[i].want);
    }
    setenv("CCD_TEST_TIMEOUT_MULTIPLIER", "3", 1);
    int64_t now = ccd_test_now_ms();
    int64_t end = ccd_test_deadline(1000);
    assert_true(end >= now + 3000);
    unsetenv("CCD_TEST_TIMEOUT_MULTIPLIER");
}

static int polls;
static bool true_on_third_look(void)
{
    return ++polls >= 3;
}

static void test_wait_returns_when_true(void **state)
{
    (void)state;
    polls = 0;
    CCD_WAIT(true_on_third_look());
    assert_int_equal(polls, 3); /* looked again until true, not once more */
    int64_t t0 = ccd_test_now_ms();
    CCD_WAIT_UNTIL(ccd_test_now_ms() >= t0 + 20, 60000);
    assert_true(ccd_test_now_ms() >= t0 + 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multiplier),
        cmocka_unit_test(test_wait_returns_when_true),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
