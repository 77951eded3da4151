/*
 * services: starts and stops the engine's threads in dependency order.
 * Kept apart from main.c so integration tests can run the whole engine
 * in-process against the simulator.
 */
#ifndef CCD_DAEMON_SERVICES_H
#define CCD_DAEMON_SERVICES_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

typedef struct svc svc_t;

/* Starts every configured service; NULL with a reason in err on failure
 * (whatever had started is stopped again). cf must outlive the services. */
svc_t *svc_start(const conf_t *cf, char *err, size_t errlen);

/* Stops everything in reverse order, draining queues; frees svc. NULL is a no-op. */
void svc_stop(svc_t *svc);

/* The port the ECCP server listens on (useful with port 0), or 0 when disabled. */
uint16_t svc_eccp_port(const svc_t *s);

/* The running engine's parts, for monitoring (ops/); valid until svc_stop.  eccp is
 * NULL when [eccp] is disabled. */
struct reg;
struct ami;
struct db;
struct eccp_server;
struct agi;
/* The FastAGI server, NULL when [agi] is disabled (valid until svc_stop). */
struct agi *svc_agi(const svc_t *s);
void svc_parts(const svc_t *s, struct reg **reg, struct ami **ami, struct db **db,
               struct eccp_server **eccp);

/* The call journal, for monitoring (ops/); valid until svc_stop. */
struct jnl;
struct jnl *svc_journal(const svc_t *s);

/* The agent service (agent/agent.h), for monitoring and tests; valid until svc_stop. */
struct ags;
struct ags *svc_agents(const svc_t *s);

/* The dialer (dialer/dialer.h), for monitoring; valid until svc_stop. */
struct dl;
struct dl *svc_dialer(const svc_t *s);

/* Creates or upgrades the database schema (ccdialerd --init-db). */
int svc_init_db(const conf_t *cf, char *err, size_t errlen);

#endif
