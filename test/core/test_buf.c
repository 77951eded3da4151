/*
 * Tests for core/buf: slices (eq, ieq, copy, dup), and the bounded buffer:
 * the max bound and its one slack byte, consume/compact, reserve/commit,
 * printf, reset and reuse, the fixed-array builder (ccd_sbuf), plus a random append/consume run checked against
 * a plain reference array.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

static void test_str(void **state)
{
    (void)state;
    ccd_str_t a = CCD_STR_LIT("Action");
    assert_int_equal(a.len, 6);
    assert_true(ccd_str_eq(a, ccd_str("Action")));
    assert_false(ccd_str_eq(a, ccd_str("action")));
    assert_false(ccd_str_eq(a, ccd_str("Actio")));
    assert_true(ccd_str_ieq(a, ccd_str("aCTION")));
    assert_false(ccd_str_ieq(a, ccd_str("actiom")));
    assert_false(ccd_str_ieq(a, ccd_str("actions")));
    /* Only ASCII letters fold: '@' (0x40) and '`' (0x60) stay different. */
    assert_false(ccd_str_ieq(ccd_str("@"), ccd_str("`")));
    assert_false(ccd_str_ieq(ccd_str("["), ccd_str("{")));
    ccd_str_t empty = ccd_str(NULL);
    assert_int_equal(empty.len, 0);
    assert_true(ccd_str_eq(empty, ccd_str("")));
    assert_true(ccd_str_ieq(empty, ccd_str("")));

    char dst[6];
    assert_int_equal(ccd_str_copy(dst, sizeof(dst), ccd_str("hello")), 0);
    assert_string_equal(dst, "hello");
    assert_int_equal(ccd_str_copy(dst, sizeof(dst), ccd_str("hello!")), CCD_ETOOBIG);
    assert_string_equal(dst, "hello");
    assert_int_equal(ccd_str_copy(dst, sizeof(dst), empty), 0);
    assert_string_equal(dst, "");
    assert_int_equal(ccd_str_copy(dst, 0, ccd_str("x")), CCD_ETOOBIG);

    ccd_str_t part = {"abcdef", 3};
    char *d = ccd_str_dup(part);
    assert_non_null(d);
    assert_string_equal(d, "abc");
    free(d);
    d = ccd_str_dup(empty);
    assert_non_null(d);
    assert_string_equal(d, "");
    free(d);
}

static void test_empty(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 100);
    assert_null(buf_data(&b));
    assert_int_equal(b.len, 0);
    buf_consume(&b, 10); /* consuming nothing is harmless */
    assert_int_equal(b.len, 0);
    buf_free(&b);
    buf_free(&b); /* twice is fine */
}

/*
 * Appending zero bytes (an empty read, an empty field) is a successful no-op.
 * Regression (fixed): core/buf.c bug: on a buffer that has never allocated (data NULL,
 * cap 0), buf_reserve(b, 0) takes the "fits" branch and returns
 * data + 0 == NULL, which buf_append() reports as CCD_ENOMEM.
 */
static void test_append_zero_to_empty(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(b.len, 0);
    assert_non_null(buf_reserve(&b, 0));
    buf_free(&b);
}

static void test_bound_and_slack(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "12345", 5), 0);
    assert_int_equal(buf_append(&b, "6789", 4), CCD_ETOOBIG);
    assert_int_equal(b.len, 5); /* nothing of a refused append is kept */
    assert_int_equal(buf_append(&b, "678", 3), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(buf_data(&b), "12345678", 8);
    assert_int_equal(buf_append(&b, "9", 1), CCD_ETOOBIG);
    /* Full data still has room for one NUL. */
    char *w = buf_reserve(&b, 1);
    assert_non_null(w);
    *w = '\0';
    assert_string_equal(buf_data(&b), "12345678");
    assert_null(buf_reserve(&b, 2));
    assert_true(b.cap <= 9);
    buf_free(&b);
}

static void test_reserve_commit(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 1000);
    char *w = buf_reserve(&b, 600);
    assert_non_null(w);
    memset(w, 'r', 100);
    buf_commit(&b, 100);
    assert_int_equal(b.len, 100);
    /* 100 used + 901 > 1000 + 1 */
    assert_null(buf_reserve(&b, 902));
    w = buf_reserve(&b, 901);
    assert_non_null(w);
    memset(w, 's', 900);
    buf_commit(&b, 900);
    assert_int_equal(b.len, 1000);
    assert_int_equal(buf_data(&b)[99], 'r');
    assert_int_equal(buf_data(&b)[100], 's');
    assert_int_equal(buf_data(&b)[999], 's');
    buf_free(&b);
}

static void test_consume_and_compact(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 16);
    assert_int_equal(buf_append(&b, "0123456789abcdef", 16), 0);
    buf_consume(&b, 10);
    assert_int_equal(b.len, 6);
    assert_memory_equal(buf_data(&b), "abcdef", 6);
    /* The bound counts unconsumed bytes only: 6 + 10 fits after compaction. */
    assert_int_equal(buf_append(&b, "ghijklmnop", 10), 0);
    assert_int_equal(b.len, 16);
    assert_memory_equal(buf_data(&b), "abcdefghijklmnop", 16);
    buf_consume(&b, 16);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.off, 0);
    buf_consume(&b, 0);
    assert_int_equal(buf_append(&b, "xy", 2), 0);
    buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

/* The fixed-array builder: appends while they fit whole; the first that does not is
 * dropped whole (the string stays as it was), and so is every later one. */
static void test_sbuf(void **state)
{
    (void)state;
    char a[12];
    memset(a, 'x', sizeof a);
    ccd_sbuf_t b;
    ccd_sbuf_init(&b, a, sizeof a);
    assert_string_equal(a, "");
    ccd_sbuf_printf(&b, "%s %d", "ab", 42);
    ccd_sbuf_printf(&b, "%s", "");
    assert_string_equal(a, "ab 42");
    assert_int_equal(b.len, 5);
    ccd_sbuf_printf(&b, "%s", "123456"); /* 11 bytes and the NUL: fills it exactly */
    assert_false(b.overflow);
    assert_string_equal(a, "ab 42123456");
    ccd_sbuf_init(&b, a, sizeof a);
    ccd_sbuf_printf(&b, "%s", "abcdef");
    ccd_sbuf_printf(&b, "%s", "ghijkl"); /* one byte short */
    assert_true(b.overflow);
    assert_int_equal(b.len, 6);
    assert_string_equal(a, "abcdef");
    ccd_sbuf_printf(&b, "%s", "z"); /* would fit, but the text is already short of a part */
    assert_string_equal(a, "abcdef");
    char one[1];
    ccd_sbuf_init(&b, one, 1);
    ccd_sbuf_printf(&b, "%s", "");
    assert_false(b.overflow);
    ccd_sbuf_printf(&b, "x");
    assert_true(b.overflow);
    assert_string_equal(one, "");
}

static void test_printf(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 20);
    assert_int_equal(buf_printf(&b, "Action: %s\r\n", "Ping"), 0);
    assert_int_equal(b.len, 14);
    assert_memory_equal(buf_data(&b), "Action: Ping\r\n", 14);
    assert_int_equal(buf_printf(&b, "%d", 123456), 0);
    assert_int_equal(b.len, 20);
    /* vsnprintf's NUL sits in the slack byte, past the data. */
    assert_string_equal(buf_data(&b), "Action: Ping\r\n123456");
    assert_int_equal(buf_printf(&b, "x"), CCD_ETOOBIG);
    assert_int_equal(b.len, 20);
    assert_int_equal(buf_printf(&b, "%s", ""), 0);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_printf(&b, "%s", "012345678901234567890"), CCD_ETOOBIG);
    assert_int_equal(b.len, 0);
    buf_free(&b);

    /* Unbounded: grows as needed. */
    buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(&b, "%04d,", i), 0);
    assert_int_equal(b.len, 5000);
    assert_memory_equal(buf_data(&b) + 4995, "0999,", 5);
    buf_free(&b);
}

static void test_reset_keeps_memory(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    buf_consume(&b, 1);
    char *data = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.off, 0);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    buf_free(&b);
    assert_null(b.data);
    /* Reusable after free. */
    assert_int_equal(buf_append(&b, "again", 5), 0);
    assert_memory_equal(buf_data(&b), "again", 5);
    buf_free(&b);
}

/* Random appends and consumes against a reference copy, bounded and not. */
static void test_random_against_reference(void **state)
{
    (void)state;
    size_t maxes[] = {0, 1, 7, 300, 4096};
    unsigned seed = 12345;
    for (size_t mi = 0; mi < sizeof(maxes) / sizeof(maxes[0]); mi++) {
        size_t max = maxes[mi];
        size_t refcap = max ? max : 1 << 20;
        char *ref = malloc(refcap);
        assert_non_null(ref);
        size_t reflen = 0;
        buf_t b;
        buf_init(&b, max);
        char chunk[700];
        for (int op = 0; op < 20000; op++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 8;
            if (r % 3 != 0) {
                size_t n = r % sizeof(chunk);
                for (size_t i = 0; i < n; i++)
                    chunk[i] = (char)('A' + (op + i) % 26);
                int rc = buf_append(&b, chunk, n);
                if (max && reflen + n > max) {
                    assert_int_equal(rc, CCD_ETOOBIG);
                } else if (reflen + n > refcap) {
                    buf_reset(&b); /* keep the unbounded run within the reference */
                    reflen = 0;
                    continue;
                } else {
                    assert_int_equal(rc, 0);
                    memcpy(ref + reflen, chunk, n);
                    reflen += n;
                }
            } else {
                size_t n = reflen ? (r / 3) % (reflen + 1) : 0;
                buf_consume(&b, n);
                memmove(ref, ref + n, reflen - n);
                reflen -= n;
            }
            assert_int_equal(b.len, reflen);
            if (max)
                assert_true(b.cap <= max + 1);
            if (reflen)
                assert_memory_equal(buf_data(&b), ref, reflen);
        }
        buf_free(&b);
        free(ref);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_append_zero_to_empty),
        cmocka_unit_test(test_bound_and_slack),
        cmocka_unit_test(test_reserve_commit),
        cmocka_unit_test(test_consume_and_compact),
        cmocka_unit_test(test_sbuf),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_reset_keeps_memory),
        cmocka_unit_test(test_random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
