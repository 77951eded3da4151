/*
 * ops without a database: the HTTP endpoint's answers, the /metrics body checked
 * line by line against the text exposition format by a strict parser of our own
 * (and by promtool when it is installed), agents counted by state, readiness with
 * parts missing, and the liveness check catching a registry thread held inside
 * an apply function (a mechanism, not a sleep: the test holds it with a pipe).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ops/ops.h"
#include "test/common/ccd_test.h"

/* ---------------- a strict exposition-format checker ---------------- */

#define MAX_FAMILIES 256

typedef struct fam {
    char name[128];
    char type[16];
    bool help, samples_seen, closed;
} fam_t;

typedef struct checker {
    fam_t f[MAX_FAMILIES];
    int n;
    int cur; /* family whose block is open, -1 = none */
} checker_t;

static bool name_ok(const char *p, size_t len)
{
    if (len == 0 || !(isalpha((unsigned char)p[0]) || p[0] == '_' || p[0] == ':'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)p[i]) || p[i] == '_' || p[i] == ':'))
            return false;
    return true;
}

static int fam_find(checker_t *c, const char *name, size_t len)
{
    for (int i = 0; i < c->n; i++)
        if (strlen(c->f[i].name) == len && memcmp(c->f[i].name, name, len) == 0)
            return i;
    return -1;
}

/* The family a sample name belongs to: itself, or a summary's name_sum/name_count. */
static int sample_family(checker_t *c, const char *name, size_t len)
{
    int i = fam_find(c, name, len);
    if (i >= 0)
        return i;
    static const char *const suffixes[] = {"_sum", "_count"};
    for (int k = 0; k < 2; k++) {
        size_t sl = strlen(suffixes[k]);
        if (len > sl && memcmp(name + len - sl, suffixes[k], sl) == 0) {
            i = fam_find(c, name, len - sl);
            if (i >= 0 && strcmp(c->f[i].type, "summary") == 0)
                return i;
        }
    }
    return -1;
}

/* Why line breaks the format (in a static buffer), or NULL when it is fine. */
static char why_buf[700];
#define BAD(...) (snprintf(why_buf, sizeof(why_buf), __VA_ARGS__), why_buf)

static const char *check_line(checker_t *c, const char *line)
{
    size_t len = strlen(line);
    if (len == 0)
        return BAD("empty line");
    if (line[0] == '#') {
        char kind[8], name[128], rest[512];
        if (sscanf(line, "# %7s %127s %511[^\n]", kind, name, rest) != 3)
            return BAD("bad comment line: %s", line);
        if (!name_ok(name, strlen(name)))
            return BAD("bad family name: %s", line);
        int i = fam_find(c, name, strlen(name));
        if (i < 0) {
            if (c->n >= MAX_FAMILIES)
                return BAD("too many families");
            i = c->n++;
            snprintf(c->f[i].name, sizeof(c->f[i].name), "%s", name);
        } else if (c->f[i].closed || c->f[i].samples_seen) {
            return BAD("metadata for %s after its samples or in two blocks", name);
        }
        if (c->cur >= 0 && c->cur != i)
            c->f[c->cur].closed = true;
        c->cur = i;
        if (strcmp(kind, "HELP") == 0) {
            if (c->f[i].help)
                return BAD("two HELP lines for %s", name);
            c->f[i].help = true;
        } else if (strcmp(kind, "TYPE") == 0) {
            if (c->f[i].type[0])
                return BAD("two TYPE lines for %s", name);
            if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "summary") &&
                strcmp(rest, "histogram") && strcmp(rest, "untyped"))
                return BAD("bad type '%s' for %s", rest, name);
            snprintf(c->f[i].type, sizeof(c->f[i].type), "%.15s", rest);
            if (strcmp(rest, "counter") == 0 &&
                (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total") != 0))
                return BAD("counter %s does not end in _total", name);
        } else {
            return BAD("unknown comment kind in: %s", line);
        }
        return NULL;
    }
    /* sample: name [{labels}] value */
    const char *p = line;
    while (*p && *p != '{' && *p != ' ')
        p++;
    size_t nlen = (size_t)(p - line);
    if (!name_ok(line, nlen))
        return BAD("bad metric name in: %s", line);
    int i = sample_family(c, line, nlen);
    if (i < 0)
        return BAD("sample without # TYPE before it: %s", line);
    if (i != c->cur || c->f[i].closed)
        return BAD("sample outside its family's block: %s", line);
    if (!c->f[i].help)
        return BAD("family %s has no # HELP", c->f[i].name);
    c->f[i].samples_seen = true;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            const char *ln = p;
            while (*p && *p != '=')
                p++;
            if (!name_ok(ln, (size_t)(p - ln)) || p[0] != '=' || p[1] != '"')
                return BAD("bad label in: %s", line);
            p += 2;
            while (*p && *p != '"') {
                if (*p == '\\') {
                    if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                        return BAD("bad escape in: %s", line);
                    p++;
                }
                p++;
            }
            if (*p != '"')
                return BAD("unterminated label value in: %s", line);
            p++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                return BAD("bad label list in: %s", line);
        }
        p++;
    }
    if (*p != ' ')
        return BAD("no space before the value in: %s", line);
    p++;
    char *end = NULL;
    strtod(p, &end);
    if (end == p || *end != '\0')
        return BAD("bad value in: %s", line);
    return NULL;
}

/* NULL when text is valid exposition, else why not. */
static const char *exposition_error(const char *text)
{
    checker_t *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->cur = -1;
    const char *why = NULL;
    size_t len = strlen(text);
    if (len == 0 || text[len - 1] != '\n')
        why = BAD("empty, or no newline at the end");
    char *copy = strdup(text);
    char *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l && !why; l = strtok_r(NULL, "\n", &save))
        why = check_line(c, l);
    for (int i = 0; i < c->n && !why; i++)
        if (!c->f[i].type[0])
            why = BAD("family %s has no # TYPE", c->f[i].name);
    free(copy);
    free(c);
    return why;
}

static void check_exposition(const char *text)
{
    const char *why = exposition_error(text);
    if (why)
        fail_msg("not valid exposition format: %s", why);
}

/* promtool is Prometheus' own checker; absent, the parser above is the check. */
static void promtool_check(const char *text)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        print_message("promtool not installed; the strict parser was the only check\n");
        return;
    }
    char path[] = "/tmp/ccd-ops-metrics.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "promtool check metrics <%s", path);
    int rc = system(cmd);
    unlink(path);
    assert_int_equal(rc, 0);
}

/* Value of the sample written exactly as series; fails when absent. */
static double sample(const char *text, const char *series)
{
    size_t sl = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, sl) == 0 && p[sl] == ' ')
            return strtod(p + sl + 1, NULL);
    fail_msg("no sample %s in:\n%s", series, text);
    return -1;
}

/* ---------------- fixture: a registry with agents, an AMI client not started ---------------- */

typedef struct fx {
    conf_t cf;
    reg_t *reg;
    ami_t *ami;
    ops_sources_t src;
} fx_t;

static void fx_init(fx_t *f)
{
    memset(f, 0, sizeof(*f));
    conf_defaults(&f->cf);
    snprintf(f->cf.ami[0].name, sizeof(f->cf.ami[0].name), "pbx \"one\"\\");
    f->reg = reg_new(1000, NULL, 0);
    assert_non_null(f->reg);
    reg_agent_info_t *list = calloc(3, sizeof(*list));
    for (int i = 0; i < 3; i++) {
        snprintf(list[i].number, sizeof(list[i].number), "Agent/90%02d", i);
        list[i].active = true;
        list[i].db_id = i + 1;
    }
    assert_int_equal(reg_post_agent_sync(f->reg, list, 3), 0);
    reg_drain(f->reg);
    f->ami = ami_new(&f->cf, &(ami_opts_t){0}, NULL, 0);
    assert_non_null(f->ami);
    f->src = (ops_sources_t){.cf = &f->cf, .reg = f->reg, .ami = f->ami, .start_time_s = 1700000000};
}

static void fx_free(fx_t *f)
{
    ami_free(f->ami);
    reg_free(f->reg);
}

/* ---------------- tests ---------------- */

static void test_render_is_valid_exposition(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(ops_render_metrics(&f.src, &b), 0);
    assert_int_equal(buf_append(&b, "", 1), 0);
    const char *text = buf_data(&b);
    check_exposition(text);
    promtool_check(text);
    assert_true(strstr(text, "ccdialer_build_info{version=\"") != NULL);
    assert_int_equal((int)sample(text, "ccdialer_start_time_seconds"), 1700000000);
    assert_int_equal((int)sample(text, "ccdialer_registry_agents"), 3);
    assert_int_equal((int)sample(text, "ccdialer_agents{state=\"logged_out\"}"), 3);
    assert_int_equal((int)sample(text, "ccdialer_agents{state=\"ready\"}"), 0);
    assert_int_equal((int)sample(text, "ccdialer_registry_calls"), 0);
    /* the server name from the configuration, escaped */
    assert_int_equal((int)sample(text, "ccdialer_ami_up{server=\"pbx \\\"one\\\"\\\\\"}"), 0);
    assert_int_equal((int)sample(text, "ccdialer_ready"), 0); /* no database */
    /* no thread has run yet: the family is there, with no age to give */
    assert_non_null(strstr(text, "# TYPE ccdialer_thread_heartbeat_age_seconds gauge\n"));
    assert_null(strstr(text, "ccdialer_thread_heartbeat_age_seconds{"));
    buf_free(&b);
    fx_free(&f);
}

static void test_checker_rejects_bad_exposition(void **state)
{
    (void)state;
    /* The checker must be able to fail, or the test above proves little. */
    static const char *const bad[] = {
        "x_total 1\n",                                            /* no TYPE */
        "# HELP a h\n# TYPE a counter\na 1\n",                    /* counter without _total */
        "# HELP a h\n# TYPE a gauge\na{l=\"x} 1\n",               /* unterminated label */
        "# HELP a h\n# TYPE a gauge\na one\n",                    /* bad value */
        "# HELP a h\n# TYPE a gauge\n# HELP b h\n# TYPE b gauge\nb 1\na 2\n", /* split family */
        "# HELP a h\n# TYPE a gauge\na 1",                        /* no final newline */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!exposition_error(bad[i]))
            fail_msg("the checker accepted bad text #%zu", i);
    assert_null(exposition_error("# HELP a h\n# TYPE a summary\na_sum 1.5\na_count 2\n"));
}

static void test_http_endpoints(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    conf_metrics_t mc = {.enabled = true, .port = 0};
    snprintf(mc.bind, sizeof(mc.bind), "127.0.0.1");
    char err[CCD_ERR_LEN];
    ops_t *o = ops_new(&mc, &f.src, err, sizeof(err));
    assert_non_null(o);
    assert_int_equal(ops_port(o), 0);
    assert_int_equal(ops_start(o), 0);
    uint16_t port = ops_port(o);
    assert_true(port != 0);

    static char body[1 << 16];
    int code = 0;
    int t = ccd_test_timeout_ms(5000);
    assert_int_equal(ops_http_get("127.0.0.1", port, "/metrics", t, &code, body, sizeof(body)), 0);
    assert_int_equal(code, 200);
    check_exposition(body);
    assert_int_equal((int)sample(body, "ccdialer_registry_agents"), 3);

    assert_int_equal(ops_http_get("127.0.0.1", port, "/healthz", t, &code, body, sizeof(body)), 0);
    assert_int_equal(code, 200); /* the registry thread never ran: nothing is stuck */
    assert_string_equal(body, "alive\n");

    assert_int_equal(ops_http_get("127.0.0.1", port, "/readyz", t, &code, body, sizeof(body)), 0);
    assert_int_equal(code, 503);
    assert_non_null(strstr(body, "database: down (not started)\n"));
    assert_non_null(strstr(body, "ami pbx \"one\"\\: down (down)\n"));
    assert_non_null(strstr(body, "not ready\n"));

    assert_int_equal(ops_http_get("127.0.0.1", port, "/other", t, &code, body, sizeof(body)), 0);
    assert_int_equal(code, 404);

    ops_stop(o);
    assert_int_equal(ops_port(o), 0);
    int rc = ops_http_get("127.0.0.1", port, "/healthz", t, &code, body, sizeof(body));
    assert_true(rc < 0); /* refused: nothing listens any more */
    ops_free(o);

    /* a bad address is refused at ops_new */
    snprintf(mc.bind, sizeof(mc.bind), "localhost");
    assert_null(ops_new(&mc, &f.src, err, sizeof(err)));
    assert_non_null(strstr(err, "numeric"));
    fx_free(&f);
}

/* An apply function that holds the registry thread until the test writes to the pipe. */
static int hold_pipe[2];
static void hold_apply(reg_txn_t *tx, void *arg)
{
    (void)tx;
    (void)arg;
    char c;
    ssize_t r = read(hold_pipe[0], &c, 1);
    (void)r;
}

static void test_liveness_catches_a_stuck_thread(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    assert_int_equal(reg_start(f.reg), 0);
    char why[256];
    CCD_WAIT_UNTIL(reg_heartbeat_ms(f.reg) != 0, 10000); /* the registry thread beat */
    assert_true(ops_threads_alive(&f.src, ccd_test_timeout_ms(5000), why, sizeof(why)));

    assert_int_equal(pipe(hold_pipe), 0);
    assert_int_equal(reg_post(f.reg, hold_apply, NULL, NULL), 0);
    /* Held: its heartbeat stops, so with a small bound it is reported stuck. */
    CCD_WAIT_UNTIL(!ops_threads_alive(&f.src, 300, why, sizeof(why)), 10000);
    assert_non_null(strstr(why, "thread reg"));
    assert_int_equal(write(hold_pipe[1], "x", 1), 1);
    /* released: it goes round its loop again */
    CCD_WAIT_UNTIL(ops_threads_alive(&f.src, 300, why, sizeof(why)), 10000);
    /* /metrics reads the same heartbeat list (not while the thread is held: the
     * registry walks wait for its lock) */
    buf_t b;
    buf_init(&b, 0);
    assert_int_equal(ops_render_metrics(&f.src, &b), 0);
    assert_int_equal(buf_append(&b, "", 1), 0);
    check_exposition(buf_data(&b));
    double age = sample(buf_data(&b), "ccdialer_thread_heartbeat_age_seconds{thread=\"reg\"}");
    assert_true(age >= 0.0 && age < ccd_test_timeout_ms(10000) / 1e3);
    buf_free(&b);
    reg_stop(f.reg);
    close(hold_pipe[0]);
    close(hold_pipe[1]);
    fx_free(&f);
}

int main(void)
{
    log_set_level(LOG_LVL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_is_valid_exposition),
        cmocka_unit_test(test_checker_rejects_bad_exposition),
        cmocka_unit_test(test_http_endpoints),
        cmocka_unit_test(test_liveness_catches_a_stuck_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
