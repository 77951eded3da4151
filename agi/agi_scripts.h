/*
 * The scripts' shared pieces: the registry facts they post (agi_reg.c) and the step
 * functions of the table (agi_scripts.c).  Module-private.
 */
#ifndef CCD_AGI_AGI_SCRIPTS_H
#define CCD_AGI_AGI_SCRIPTS_H

#include "agi/agi_int.h"

/* One fact about a call, keyed by the AGI channel's uniqueid (our ChannelId for the calls
 * we originate). */
typedef struct agi__reg_fact {
    char uniqueid[REG_UID_LEN];
    char channel[REG_CHAN_LEN];
    char phone[REG_PHONE_LEN];
    char queue[REG_ID_LEN];
    int64_t campaign_id;
    int64_t at_ms; /* wall clock */
} agi__reg_fact_t;

/* Apply functions (registry thread). */
void agi__apply_answered(reg_txn_t *tx, void *arg);  /* t_answer_ms, unless known */
void agi__apply_abandoned(reg_txn_t *tx, void *arg); /* Abandoned, unless linked or ended */
void agi__apply_incoming(reg_txn_t *tx, void *arg);  /* an incoming call about to queue */

/* Posts apply(fact of s) to the registry; false when refused (logged). */
bool agi__post_fact(agi__sess_t *s, reg_apply_fn apply, const char *queue, int64_t campaign_id);

/* A number in text (a channel variable): its value, 0 when it is not a positive number. */
long long agi__id_of(const char *text);

/* Starts the read of the campaign's ccd_campaign_agi settings (a db_agi_campaign_t in
 * s->job->out when the job is back), the campaign named by ans, the answer to GET VARIABLE
 * ID_CAMPAIGN.  False when there is no such number or the read was refused (logged): the
 * script goes on with its defaults. */
bool agi__read_campaign(agi__sess_t *s, const agi_item_t *ans);

void agi__sc_incoming(agi__sess_t *s, const agi_item_t *ans);
void agi__sc_outgoing(agi__sess_t *s, const agi_item_t *ans);
void agi__sc_abandon(agi__sess_t *s, const agi_item_t *ans);
void agi__sc_callback(agi__sess_t *s, const agi_item_t *ans);
void agi__sc_agentlogin(agi__sess_t *s, const agi_item_t *ans);

#endif
