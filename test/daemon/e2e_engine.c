/* The engine fixture of the end-to-end tests (see e2e_engine.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "db/db_int.h" /* raw fixture SQL on a test connection */
#include "test/daemon/e2e_engine.h"

#define DBT_CONN(my) (&(db_conn_t){.my = (my)})

const char *e2e_env_or_fail(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("%s is not set: run this test through scripts/test.sh (private MariaDB)", name);
    return v;
}

int e2e_tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        fail_msg("connect to port %u: %s", port, strerror(errno));
    return fd;
}

void e2e_send_all(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t w = send(fd, s, len, MSG_NOSIGNAL);
        assert_true(w > 0);
        s += w;
        len -= (size_t)w;
    }
}

void e2e_engine_start(e2e_engine_t *e, const e2e_engine_opts_t *o)
{
    const char *sock = o->socket ? o->socket : e2e_env_or_fail("CCD_TEST_DB_SOCKET");
    const char *user = o->user ? o->user : e2e_env_or_fail("CCD_TEST_DB_USER");
    const char *pw = o->password ? o->password : e2e_env_or_fail("CCD_TEST_DB_PASSWORD");
    snprintf(e->dbname, sizeof(e->dbname), "%s_%d", o->db_prefix, (int)getpid());

    pbxsim_opts_t so;
    pbxsim_opts_default(&so);
    so.username = "e2e";
    so.secret = "e2e-secret";
    so.agent_login_wait_ms = 200;
    so.quiet_noise = true;
    if (o->time_scale)
        so.time_scale = o->time_scale;
    e->sim = pbxsim_start(&so);
    assert_non_null(e->sim);

    /* The configuration goes through the real parser, as an admin's file would. */
    char text[4096];
    snprintf(text, sizeof(text),
             "[ami]\nhost = 127.0.0.1\nport = %u\nusername = e2e\nsecret = e2e-secret\n"
             "reconnect_min_ms = 50\nreconnect_max_ms = 500\n"
             "[database]\nsocket = %s\nuser = %s\npassword = %s\nname = %s\n"
             "[eccp]\nbind = 127.0.0.1\nallowed_networks = 127.0.0.0/8, ::1\n"
             "%s"
             "[agi]\nenabled = no\n[log]\nlevel = warning\n",
             (unsigned)pbxsim_port(e->sim), sock, user, pw, e->dbname,
             o->conf_extra ? o->conf_extra : "");
    char err[CCD_ERR_LEN];
    if (conf_load_string(o->conf_name, text, strlen(text), &e->cf, err, sizeof(err)) != 0)
        fail_msg("config: %s", err);
    e->cf.eccp.port = 0; /* ephemeral: tests may run beside a real engine (files refuse 0) */
    log_set_level(LOG_LVL_WARN);

    if (db_migrate(&e->cf.database, err, sizeof(err)) != 0)
        fail_msg("migrate: %s", err);
    MYSQL *my = NULL;
    if (db__connect(&e->cf.database, true, &my, err, sizeof(err)) != 0)
        fail_msg("connect: %s", err);
    if (db_exec_script_file(DBT_CONN(my), CCD_SOURCE_DIR "/db/seed/demo.sql", err, sizeof(err)) != 0)
        fail_msg("seed: %s", err);
    mysql_close(my);

    e->svc = svc_start(&e->cf, err, sizeof(err));
    if (!e->svc)
        fail_msg("engine start: %s", err);
}

void e2e_engine_stop(e2e_engine_t *e, bool drop_db)
{
    svc_stop(e->svc);
    pbxsim_stop(e->sim);
    if (!drop_db)
        return;
    char err[CCD_ERR_LEN];
    MYSQL *my = NULL;
    conf_database_t nodb = e->cf.database;
    if (db__connect(&nodb, false, &my, err, sizeof(err)) == 0) {
        char q[128];
        snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s", e->dbname);
        mysql_query(my, q);
        mysql_close(my);
    }
}
