/*
 * ccdialer-db: the database admin tool.
 *
 *   ccdialer-db [connection options] init          create or upgrade (db_migrate)
 *   ccdialer-db [connection options] version       print the schema version
 *   ccdialer-db [connection options] seed FILE     run a SQL script (e.g. db/seed/demo.sql)
 *   ccdialer-db [connection options] recover [S]   release claims of engines silent for S s (600)
 *   ccdialer-db sql                                print the CREATE TABLE statements
 *
 * Connection options: --socket PATH | --host H --port P, --user U, --database NAME
 * (default call_center).  The password comes from the environment variable
 * CCD_DB_PASSWORD, never from the command line (it would show in ps).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "db/db.h"
#include "db/db_int.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: ccdialer-db [--socket PATH | --host H --port P] [--user U] [--database NAME]\n"
            "                   init | version | seed FILE | recover [LEASE_S] | sql\n"
            "       password: environment variable CCD_DB_PASSWORD\n");
}

static int print_sql(void)
{
    char *buf = malloc(16384);
    if (!buf)
        return 1;
    for (const db_table_t *const *t = db__issabel_tables(); *t; t++) {
        if (db__sql_create_table(*t, buf, 16384) < 0) {
            free(buf);
            return 1;
        }
        printf("%s;\n\n", buf);
    }
    free(buf);
    printf("-- ccdialer additions: see db/db_schema.c, migration 2\n");
    return 0;
}

int main(int argc, char **argv)
{
    /* conf owns the defaults; the options below override them. */
    static conf_t defaults;
    conf_defaults(&defaults);
    conf_database_t cfg = defaults.database;
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'}, {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'P'},   {"user", required_argument, NULL, 'u'},
        {"database", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "s:H:P:u:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            snprintf(cfg.socket, sizeof(cfg.socket), "%s", optarg);
            break;
        case 'H':
            snprintf(cfg.host, sizeof(cfg.host), "%s", optarg);
            break;
        case 'P':
            cfg.port = (uint16_t)atoi(optarg);
            break;
        case 'u':
            snprintf(cfg.user, sizeof(cfg.user), "%s", optarg);
            break;
        case 'd':
            snprintf(cfg.name, sizeof(cfg.name), "%s", optarg);
            break;
        default:
            usage();
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind >= argc) {
        usage();
        return 2;
    }
    const char *cmd = argv[optind];
    if (strcmp(cmd, "sql") == 0)
        return print_sql();
    const char *pw = getenv("CCD_DB_PASSWORD");
    if (pw)
        snprintf(cfg.password, sizeof(cfg.password), "%s", pw);

    char err[CCD_ERR_LEN] = "";
    if (db_global_init() != 0) {
        fprintf(stderr, "ccdialer-db: the MariaDB client library did not initialise\n");
        return 1;
    }
    int rc = 0;
    if (strcmp(cmd, "init") == 0) {
        rc = db_migrate(&cfg, err, sizeof(err));
        if (rc == 0)
            printf("ccdialer-db: %s is at schema version %d\n", cfg.name, DB_SCHEMA_VERSION);
    } else if (strcmp(cmd, "version") == 0 || strcmp(cmd, "seed") == 0 ||
               strcmp(cmd, "recover") == 0) {
        db_conn_t *my = NULL;
        rc = db_conn_open(&cfg, true, &my, err, sizeof(err));
        if (rc == 0 && strcmp(cmd, "version") == 0) {
            int v = 0;
            rc = db_schema_version(my, &v);
            if (rc == 0)
                printf("%d\n", v);
            else
                snprintf(err, sizeof(err), "%s", db_conn_error(my));
        } else if (rc == 0 && strcmp(cmd, "seed") == 0) {
            if (optind + 1 >= argc) {
                usage();
                rc = CCD_EINVAL;
                snprintf(err, sizeof(err), "seed needs a FILE");
            } else {
                rc = db_exec_script_file(my, argv[optind + 1], err, sizeof(err));
            }
        } else if (rc == 0) {
            int lease = optind + 1 < argc ? atoi(argv[optind + 1]) : 600;
            int n = 0;
            rc = db_claims_recover(my, lease, &n);
            if (rc == 0)
                printf("released %d claim(s)\n", n);
            else
                snprintf(err, sizeof(err), "%s", db_conn_error(my));
        }
        db_conn_close(my);
    } else {
        usage();
        rc = CCD_EINVAL;
        snprintf(err, sizeof(err), "unknown command %s", cmd);
    }
    db_global_end();
    if (rc) {
        fprintf(stderr, "ccdialer-db: %s\n", err);
        return 1;
    }
    return 0;
}
