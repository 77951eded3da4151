/* ECCP requests backed by call_center (eccp_dbreq.c); internal to the eccp module. */
#ifndef CCD_ECCP_DBREQ_H
#define CCD_ECCP_DBREQ_H

#include "eccp/eccp_int.h"

/* Request starters (worker): validate, copy arguments into a job, submit. */
void eccp__rq_getqueuescript(eccp_call_t *c);
void eccp__rq_getcampaignlist(eccp_call_t *c);
void eccp__rq_getincomingqueuelist(eccp_call_t *c);
void eccp__rq_getcampaignqueuewait(eccp_call_t *c);
void eccp__rq_getcampaigninfo(eccp_call_t *c);
void eccp__rq_getcallinfo(eccp_call_t *c);
void eccp__rq_getpauses(eccp_call_t *c);
void eccp__rq_getcampaignstatus(eccp_call_t *c);
void eccp__rq_getincomingqueuestatus(eccp_call_t *c);
void eccp__rq_getagentactivitysummary(eccp_call_t *c);
void eccp__rq_campaignlog(eccp_call_t *c);
void eccp__rq_refreshagents(eccp_call_t *c);

/* Worker finish of the requests that write: submits the writes prepared by the DB-thread part
 * and answers success (or 503 when the write queue is full), else sends the check's answer. */
void eccp__writes_done(eccp_worker_t *w, eccp_sess_t *s, eccp_job_t *j);

/* DB-thread parts of agent requests. */
int eccp__sql_break_check(db_conn_t *db, eccp_job_t *j);
int eccp__sql_setcontact(db_conn_t *db, eccp_job_t *j);
int eccp__sql_saveformdata(db_conn_t *db, eccp_job_t *j);
int eccp__sql_schedulecall(db_conn_t *db, eccp_job_t *j);
/* The optional argument `name` of c into out (*has: present); false when it is too long
 * (a 400 was sent and j freed). */
bool eccp__opt_arg(eccp_call_t *c, eccp_job_t *j, const char *name, char *out, size_t outsz,
                   bool *has);
/* Copies <forms> into j (0), or answers 400 and returns < 0. */
int eccp__saveformdata_args(eccp_call_t *c, eccp_job_t *j);

#endif
