/*
 * core's private link between log.c and log_syslog.c.
 */
#ifndef CCD_CORE_LOG_INT_H
#define CCD_CORE_LOG_INT_H

#include "core/log.h"

/* The syslog priority of a level (LOG_ERR .. LOG_DEBUG): the syslog target and the
 * copy ([log] syslog = yes) use the same mapping. */
int log__syslog_prio(log_level_e level);

/* Sends line (without its timestamp) to syslog when the copy is on. */
void log__syslog_copy(log_level_e level, const char *line);

#endif
