/*
 * reg_agent_info_set + reg_agent_list_merge: the agent rows -> registry list
 * rules shared by the daemon's startup load and ECCP refreshagents (numbers,
 * names, flags, and which row wins when a number appears more than once, in
 * any row order); reg_agent_set_logged_out: what a logout clears and what it keeps.
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

/* An agent row (call_center.agent's id, type, number, name, estatus). */
typedef struct row {
    int64_t id;
    const char *type, *number, *name;
    char estatus;
} row_t;

static row_t row(int64_t id, const char *type, const char *number, const char *name, char estatus)
{
    return (row_t){id, type, number, name, estatus};
}

/* What a loader does: one entry per row, then the merge. */
static int convert(const row_t *rows, size_t n, reg_agent_info_t **out, size_t *nout)
{
    reg_agent_info_t *l = calloc(n ? n : 1, sizeof(*l));
    assert_non_null(l);
    for (size_t i = 0; i < n; i++)
        reg_agent_info_set(&l[i], rows[i].type, rows[i].number, rows[i].name, rows[i].estatus,
                           rows[i].id);
    int rc = reg_agent_list_merge(l, &n);
    if (rc != 0) {
        free(l);
        return rc;
    }
    *out = l;
    *nout = n;
    return 0;
}

static const reg_agent_info_t *find(const reg_agent_info_t *l, size_t n, const char *num)
{
    const reg_agent_info_t *hit = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l[i].number, num) == 0) {
            assert_null(hit); /* one entry per number */
            hit = &l[i];
        }
    }
    return hit;
}

static void test_convert(void **state)
{
    (void)state;
    row_t rows[] = {
        row(7, "Agent", "9002", "old 9002", 'I'), /* inactive first, active later: active wins */
        row(1, "Agent", "9000", "Ann", 'A'),
        row(3, "SIP", "1064", "Cid", 'I'),        /* only inactive rows: the lowest id */
        row(8, "Agent", "9002", "new 9002", 'A'),
        row(2, "SIP", "1064", "Cid older", 'I'),
        row(9, "Agent", "9003", "first active", 'A'),
        row(4, "Agent", "9003", "lower id active", 'A'), /* two active: the lowest id */
        row(5, "Agent", "9003", "inactive", 'I'),
        row(6, "PJSIP", "9000", "same number, other type", 'A'),
    };
    reg_agent_info_t *l = NULL;
    size_t n = 0;
    assert_int_equal(convert(rows, sizeof(rows) / sizeof(rows[0]), &l, &n), 0);
    assert_int_equal(n, 5);
    const reg_agent_info_t *a = find(l, n, "Agent/9002");
    assert_non_null(a);
    assert_true(a->active);
    assert_string_equal(a->name, "new 9002");
    assert_int_equal(a->db_id, 8);
    a = find(l, n, "Agent/9000");
    assert_non_null(a);
    assert_true(a->active);
    assert_string_equal(a->name, "Ann");
    assert_int_equal(a->db_id, 1);
    a = find(l, n, "SIP/1064");
    assert_non_null(a);
    assert_false(a->active);
    assert_int_equal(a->db_id, 2);
    a = find(l, n, "Agent/9003");
    assert_non_null(a);
    assert_true(a->active);
    assert_int_equal(a->db_id, 4);
    assert_string_equal(a->name, "lower id active");
    a = find(l, n, "PJSIP/9000");
    assert_non_null(a);
    assert_int_equal(a->db_id, 6);
    /* entries keep the order of each number's first row */
    assert_string_equal(l[0].number, "Agent/9002");
    assert_string_equal(l[1].number, "Agent/9000");
    assert_string_equal(l[2].number, "SIP/1064");
    free(l);
}

static void test_edges(void **state)
{
    (void)state;
    reg_agent_info_t *l = NULL;
    size_t n = 99;
    assert_int_equal(convert(NULL, 0, &l, &n), 0);
    assert_int_equal(n, 0);
    free(l);
    /* a name longer than the registry keeps is cut, NUL-terminated */
    char longname[251];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    row_t r = row(1, "Agent", "9000", longname, 'A');
    assert_int_equal(convert(&r, 1, &l, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(strlen(l[0].name), REG_NAME_LEN - 1);
    assert_string_equal(l[0].number, "Agent/9000");
    free(l);
    /* any estatus but 'A' is inactive */
    row_t ri = row(3, "SIP", "1064", "Cid", 'I');
    assert_int_equal(convert(&ri, 1, &l, &n), 0);
    assert_false(l[0].active);
    assert_int_equal(l[0].db_id, 3);
    free(l);
}

/* A logout ends the session's state and nothing else: the agent's identity, queues and
 * member status stay (Asterisk still reports the member). */
static void test_logged_out(void **state)
{
    (void)state;
    reg_agent_t a;
    memset(&a, 0, sizeof(a));
    snprintf(a.number, sizeof(a.number), "Agent/9000");
    snprintf(a.name, sizeof(a.name), "Ana");
    a.db_id = 7;
    a.active = true;
    a.login = REG_LOGGED_IN;
    a.login_time_ms = 1000;
    snprintf(a.channel, sizeof(a.channel), "SIP/1001-00000001");
    snprintf(a.extension, sizeof(a.extension), "1001");
    a.break_id = 3;
    snprintf(a.break_name, sizeof(a.break_name), "Lunch");
    a.break_start_ms = 2000;
    a.on_hold = true;
    a.hold_start_ms = 3000;
    a.ready_ms = 4000;
    a.member_status = 1;
    a.nqueues = 1;
    snprintf(a.queues[0], sizeof(a.queues[0]), "8000");

    reg_agent_set_logged_out(&a);
    assert_int_equal(a.login, REG_LOGGED_OUT);
    assert_int_equal(a.login_time_ms, 0);
    assert_string_equal(a.channel, "");
    assert_string_equal(a.extension, "");
    assert_int_equal(a.break_id, 0);
    assert_string_equal(a.break_name, "");
    assert_int_equal(a.break_start_ms, 0);
    assert_false(a.on_hold);
    assert_int_equal(a.hold_start_ms, 0);
    assert_int_equal(a.ready_ms, 0);
    assert_string_equal(a.number, "Agent/9000");
    assert_string_equal(a.name, "Ana");
    assert_int_equal(a.db_id, 7);
    assert_true(a.active);
    assert_int_equal(a.member_status, 1);
    assert_int_equal(a.nqueues, 1);
    assert_string_equal(a.queues[0], "8000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_logged_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
