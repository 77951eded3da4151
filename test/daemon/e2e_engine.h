/*
 * The engine under test for the end-to-end tests (test/daemon, test/agent):
 * pbxsim, a configuration read through the real parser, a migrated and seeded
 * database of the test's own name, and the whole engine in-process
 * (services.c).  Every step that fails fails the running cmocka test.
 * Include after <cmocka.h>.
 */
#ifndef CCD_TEST_DAEMON_E2E_ENGINE_H
#define CCD_TEST_DAEMON_E2E_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "daemon/services.h"
#include "tools/pbxsim/pbxsim.h"

typedef struct e2e_engine {
    char dbname[64]; /* <db_prefix>_<pid>, dropped by e2e_engine_stop */
    conf_t cf;
    pbxsim_t *sim;
    svc_t *svc;
} e2e_engine_t;

typedef struct e2e_engine_opts {
    const char *db_prefix;  /* the database is <db_prefix>_<pid> */
    const char *conf_name;  /* names the configuration in parse errors */
    const char *conf_extra; /* sections added to the common ones, or NULL */
    int time_scale;         /* pbxsim's time scale; 0 keeps pbxsim's default */
    /* The MariaDB to use; NULL: the one scripts/test.sh starts (CCD_TEST_DB_*). */
    const char *socket, *user, *password;
} e2e_engine_opts_t;

/* getenv(name), failing the test when it is unset or empty. */
const char *e2e_env_or_fail(const char *name);

/* A TCP connection to 127.0.0.1:port, failing the test when it is refused. */
int e2e_tcp_connect(uint16_t port);

/* Writes all of s to fd. */
void e2e_send_all(int fd, const char *s);

/* Starts pbxsim and the engine on a fresh database. */
void e2e_engine_start(e2e_engine_t *e, const e2e_engine_opts_t *o);

/* Stops the engine and pbxsim; drops the database when drop_db (a test's own
 * mariadbd is removed whole instead). */
void e2e_engine_stop(e2e_engine_t *e, bool drop_db);

#endif
