/*
 * Shared test helpers: deadlines scaled for slow machines and a wait-until
 * that fails the test, naming what it waited for, when the deadline passes.
 *
 * Every wait in a test has a deadline from ccd_test_timeout_ms(); sanitizer
 * runs and busy CI machines are slower, so scripts/test.sh sets
 * CCD_TEST_TIMEOUT_MULTIPLIER (an integer, default 1) and every deadline is
 * multiplied by it.  A deadline is a bound on a failure, never a measurement:
 * a passing test returns as soon as its condition holds.
 *
 * Include after <cmocka.h> (the wait macro uses fail_msg).
 */
#ifndef CCD_TEST_COMMON_CCD_TEST_H
#define CCD_TEST_COMMON_CCD_TEST_H

#include <stdbool.h>
#include <stdint.h>

/* The usual bound of one wait, before scaling: long enough for a loaded
 * 2-core machine, short enough that a hang is reported well inside ctest's
 * own timeout. */
#define CCD_TEST_WAIT_MS 15000

/* Monotonic milliseconds since an arbitrary point. */
int64_t ccd_test_now_ms(void);

/* base_ms times CCD_TEST_TIMEOUT_MULTIPLIER (read at each call; a missing, empty or
 * non-positive value counts as 1). */
int ccd_test_timeout_ms(int base_ms);

/* The multiplier itself, for waits that are not in milliseconds (a child
 * process's -t seconds). */
int ccd_test_timeout_multiplier(void);

/* now + ccd_test_timeout_ms(base_ms). */
int64_t ccd_test_deadline(int base_ms);

/* A short pause between two looks at a condition (not a wait on its own). */
void ccd_test_sleep_ms(int ms);

/*
 * Polls cond (any expression, evaluated again each millisecond) until it is
 * true; when ccd_test_timeout_ms(base_ms) passes first, fails the test with
 * file:line, the condition's text and the time waited.
 */
#define CCD_WAIT_UNTIL(cond, base_ms)                                                              \
    do {                                                                                           \
        int ccd_wait_ms_ = ccd_test_timeout_ms(base_ms);                                           \
        int64_t ccd_wait_end_ = ccd_test_now_ms() + ccd_wait_ms_;                                  \
        while (!(cond)) {                                                                          \
            if (ccd_test_now_ms() >= ccd_wait_end_)                                                \
                fail_msg("%s:%d: timed out after %d ms waiting for: %s", __FILE__, __LINE__,       \
                         ccd_wait_ms_, #cond);                                                     \
            ccd_test_sleep_ms(1);                                                                  \
        }                                                                                          \
    } while (0)

/* As CCD_WAIT_UNTIL, with the usual bound. */
#define CCD_WAIT(cond) CCD_WAIT_UNTIL(cond, CCD_TEST_WAIT_MS)

/*
 * For loops that do work between looks (pump a socket, send a request):
 * fails the test like CCD_WAIT_UNTIL when the deadline end (from
 * ccd_test_deadline) has passed; what names what was awaited.
 */
#define CCD_CHECK_DEADLINE(end, what)                                                              \
    do {                                                                                           \
        if (ccd_test_now_ms() >= (end))                                                            \
            fail_msg("%s:%d: deadline passed waiting for: %s", __FILE__, __LINE__, (what));        \
    } while (0)

#endif
