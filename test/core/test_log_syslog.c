/*
 * [log] syslog = yes: every line also goes to syslog, without its timestamp, with the
 * level as priority; the file target still gets the stamped line; off means nothing
 * is copied (counted through the replaced writer, not guessed from timing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* syslog.h's LOG_ERR/LOG_WARNING (3, 4) clash with log.h's macros: spelled out here. */
#define SYSLOG_ERR 3
#define SYSLOG_WARNING 4

static int copies;
static int last_prio;
static char last_line[LOG_LINE_MAX + 1];

static void capture(int prio, const char *line)
{
    copies++;
    last_prio = prio;
    snprintf(last_line, sizeof(last_line), "%s", line);
}

static void test_copy_to_syslog(void **state)
{
    (void)state;
    char path[] = "/tmp/ccd-log-syslog.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    log_syslog_set_writer(capture);
    assert_int_equal(log_open(LOG_TARGET_FILE, path, LOG_LVL_INFO), 0);
    log_set_thread_name("t1");

    log_syslog_copy(true);
    LOG_WARN("ami", "call lost call_id=%d agent=%s", 42, "Agent/9000");
    assert_int_equal(copies, 1);
    assert_int_equal(last_prio, SYSLOG_WARNING);
    assert_string_equal(last_line, "WARN [t1] ami: call lost call_id=42 agent=Agent/9000");
    LOG_ERR("db", "x");
    assert_int_equal(copies, 2);
    assert_int_equal(last_prio, SYSLOG_ERR);
    LOG_DEBUG("db", "below the level: neither written nor copied");
    assert_int_equal(copies, 2);

    log_syslog_copy(false);
    LOG_NOTICE("main", "not copied");
    assert_int_equal(copies, 2);
    log_close();

    /* the file has all three lines, each with its timestamp */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    unlink(path);
    buf[n] = '\0';
    assert_non_null(strstr(buf, " WARN [t1] ami: call lost call_id=42 agent=Agent/9000\n"));
    assert_non_null(strstr(buf, " ERROR [t1] db: x\n"));
    assert_non_null(strstr(buf, " NOTICE [t1] main: not copied\n"));
    assert_true(buf[0] >= '2' && buf[0] <= '9'); /* starts with the date */
    log_syslog_set_writer(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_copy_to_syslog)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
