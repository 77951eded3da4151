/*
 * eccp_guard: the per-address connection caps and the failed-login throttle,
 * with exact counts and an injected clock: the caps and their release, the
 * delay sequence, the block and its end, failures forgotten after the block
 * time, a name's block never refusing a clean address, a success forgetting
 * the name only, and the failure tables bounded under many names/addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "conf/conf.h"
#include "eccp/eccp_guard.h"

static conf_eccp_t cfg(void)
{
    conf_t c;
    conf_defaults(&c);
    c.eccp.max_unauth_sessions = 5;
    c.eccp.max_unauth_per_address = 3;
    c.eccp.max_sessions_per_address = 4;
    c.eccp.login_fail_delay_ms = 100;
    c.eccp.login_fail_delay_max_ms = 1000;
    c.eccp.login_fail_block_after = 6;
    c.eccp.login_block_time_s = 60;
    return c.eccp;
}

static void ip(uint8_t a[16], int last)
{
    memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    a[12] = 10;
    a[15] = (uint8_t)last;
}

static void test_connection_caps(void **state)
{
    (void)state;
    conf_eccp_t c = cfg();
    eccp_guard_t *g = eccp__guard_new(&c);
    assert_non_null(g);
    uint8_t a[16], b[16], d[16];
    ip(a, 1);
    ip(b, 2);
    ip(d, 3);
    /* per address, not logged in: 3 */
    for (int i = 0; i < 3; i++)
        assert_int_equal(eccp__guard_admit(g, a), ECCP_GUARD_OK);
    assert_int_equal(eccp__guard_admit(g, a), ECCP_GUARD_UNAUTH_ADDR);
    /* two log in: a has room for unauthenticated ones again, up to 4 sessions in all */
    eccp__guard_authed(g, a);
    eccp__guard_authed(g, a);
    assert_int_equal(eccp__guard_unauth(g), 1);
    assert_int_equal(eccp__guard_admit(g, a), ECCP_GUARD_OK);
    assert_int_equal(eccp__guard_admit(g, a), ECCP_GUARD_ADDR);
    /* all addresses, not logged in: 5 (a has 2) */
    for (int i = 0; i < 3; i++)
        assert_int_equal(eccp__guard_admit(g, b), ECCP_GUARD_OK);
    assert_int_equal(eccp__guard_unauth(g), 5);
    assert_int_equal(eccp__guard_admit(g, d), ECCP_GUARD_UNAUTH);
    /* releases give the room back; an address without sessions leaves the table */
    eccp__guard_release(g, b, true);
    assert_int_equal(eccp__guard_admit(g, d), ECCP_GUARD_OK);
    assert_int_equal(eccp__guard_addrs(g), 3);
    eccp__guard_release(g, d, true);
    assert_int_equal(eccp__guard_addrs(g), 2);
    eccp__guard_release(g, a, false); /* a logged-in one */
    eccp__guard_release(g, a, false);
    eccp__guard_release(g, a, true);
    eccp__guard_release(g, a, true);
    eccp__guard_release(g, b, true);
    eccp__guard_release(g, b, true);
    assert_int_equal(eccp__guard_addrs(g), 0);
    assert_int_equal(eccp__guard_unauth(g), 0);
    eccp__guard_free(g);

    /* max_sessions_per_address 0 = no cap on logged-in sessions */
    c.max_sessions_per_address = 0;
    g = eccp__guard_new(&c);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(eccp__guard_admit(g, a), ECCP_GUARD_OK);
        eccp__guard_authed(g, a);
    }
    assert_int_equal(eccp__guard_unauth(g), 0);
    eccp__guard_free(g);
}

static void test_delay_block_expiry(void **state)
{
    (void)state;
    conf_eccp_t c = cfg();
    eccp_guard_t *g = eccp__guard_new(&c);
    uint8_t a[16], b[16];
    ip(a, 1);
    ip(b, 2);
    int64_t t = 1000000;
    int retry = 0;
    bool bl;
    static const int64_t want[] = {100, 200, 400, 800, 1000};
    for (int i = 0; i < 5; i++) {
        assert_false(eccp__guard_login_blocked(g, a, "u", t, &retry));
        assert_int_equal(eccp__guard_login_failed(g, a, "u", t, &bl), want[i]);
        assert_false(bl);
        t += 10;
    }
    /* the 6th failure blocks the address (and the name) for 60 s */
    assert_int_equal(eccp__guard_login_failed(g, a, "u", t, &bl), 1000);
    assert_true(bl);
    assert_true(eccp__guard_login_blocked(g, a, "u", t, &retry));
    assert_int_equal(retry, 60);
    assert_true(eccp__guard_login_blocked(g, a, "other-name", t + 1500, &retry));
    assert_int_equal(retry, 59); /* 58.5 s left, rounded up */
    /* another address is not refused, neither for another name nor for the blocked name */
    assert_false(eccp__guard_login_blocked(g, b, "other-name", t, &retry));
    assert_false(eccp__guard_login_blocked(g, b, "u", t, &retry));
    /* ... but once it fails on its own, the name's block applies to it */
    assert_int_equal(eccp__guard_login_failed(g, b, "u", t, &bl), 1000); /* the name's 7th */
    assert_false(bl);
    assert_true(eccp__guard_login_blocked(g, b, "u", t, &retry));
    assert_false(eccp__guard_login_blocked(g, b, "v", t, &retry)); /* its own count is 1 */
    /* the block ends 60 s after it began, and the failures are forgotten with it */
    int64_t end = t + 60000;
    assert_true(eccp__guard_login_blocked(g, a, "u", end - 1, &retry));
    assert_int_equal(retry, 1);
    assert_false(eccp__guard_login_blocked(g, a, "u", end, &retry));
    assert_int_equal(eccp__guard_login_failed(g, a, "x", end, &bl), 100);
    eccp__guard_free(g);
}

static void test_success_and_forgetting(void **state)
{
    (void)state;
    conf_eccp_t c = cfg();
    eccp_guard_t *g = eccp__guard_new(&c);
    uint8_t a[16], b[16];
    ip(a, 1);
    ip(b, 2);
    int64_t t = 5000000;
    bool bl;
    /* failures are forgotten block_time after the last one */
    assert_int_equal(eccp__guard_login_failed(g, a, "u", t, &bl), 100);
    assert_int_equal(eccp__guard_login_failed(g, a, "u", t + 1000, &bl), 200);
    assert_int_equal(eccp__guard_login_failed(g, a, "u", t + 1000 + 60000, &bl), 100);
    /* a success forgets the name's failures, not the address's */
    assert_int_equal(eccp__guard_login_failed(g, b, "n", t, &bl), 100);
    assert_int_equal(eccp__guard_login_failed(g, b, "n", t, &bl), 200);
    eccp__guard_login_ok(g, "n");
    assert_int_equal(eccp__guard_login_failed(g, b, "m", t, &bl), 400); /* b's third */
    eccp__guard_login_ok(g, "m");
    ip(a, 9);
    assert_int_equal(eccp__guard_login_failed(g, a, "n", t, &bl), 100); /* n and 10.0.0.9 fresh */
    /* no delay configured: failures are counted, answers are not delayed */
    c.login_fail_delay_ms = 0;
    eccp_guard_t *g0 = eccp__guard_new(&c);
    for (int i = 0; i < 5; i++)
        assert_int_equal(eccp__guard_login_failed(g0, a, "u", t, &bl), 0);
    assert_int_equal(eccp__guard_login_failed(g0, a, "u", t, &bl), 0);
    assert_true(bl);
    eccp__guard_free(g0);
    eccp__guard_free(g);
}

/* Many names and addresses: the tables stay bounded, and a blocked address survives
 * the churn of names (blocked entries are the last to be evicted). */
static void test_bounded_tables(void **state)
{
    (void)state;
    conf_eccp_t c = cfg();
    eccp_guard_t *g = eccp__guard_new(&c);
    uint8_t a[16], x[16];
    ip(a, 1);
    int64_t t = 9000000;
    bool bl;
    int retry;
    for (int i = 0; i < 6; i++)
        eccp__guard_login_failed(g, a, "victim", t, &bl);
    assert_true(eccp__guard_login_blocked(g, a, "any", t, &retry));
    char name[32];
    for (int i = 0; i < ECCP_GUARD_FAIL_MAX + 500; i++) {
        snprintf(name, sizeof(name), "name%d", i);
        memset(x, 0, 16);
        x[0] = 0x20;
        x[1] = 0x01;
        memcpy(x + 8, &i, sizeof(i));
        eccp__guard_login_failed(g, x, name, t + 1 + i, &bl);
        assert_true(eccp__guard_fail_entries(g) <= 2 * ECCP_GUARD_FAIL_MAX);
    }
    assert_int_equal(eccp__guard_fail_entries(g), 2 * ECCP_GUARD_FAIL_MAX);
    assert_true(eccp__guard_login_blocked(g, a, "any", t + ECCP_GUARD_FAIL_MAX + 500, &retry));
    eccp__guard_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connection_caps),
        cmocka_unit_test(test_delay_block_expiry),
        cmocka_unit_test(test_success_and_forgetting),
        cmocka_unit_test(test_bounded_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
