/*
 * Helpers shared by the call-flow files (flow.c: originate, queues, agents,
 * call ends; hold.c: park, redirect, transfers).  Server thread only.
 */
#ifndef CCD_TOOLS_PBXSIM_FLOW_INT_H
#define CCD_TOOLS_PBXSIM_FLOW_INT_H

#include "tools/pbxsim/pbxsim_int.h"

#define Q_TIMEOUT_MS 15000 /* queues.conf timeout = 15 */
#define Q_RETRY_MS 2000    /* retry = 2 */
#define AGENT_ANSWER_MS 300

int64_t pbx_wall_s(pbx_t *s);
void pbx_drop_chan(pbx_t *s, pcall_t *c, pchan_t **pp);
void pbx_member_status_all(pbx_t *s, pagent_t *a, pmember_t *only);
void pbx_agent_event(pbx_t *s, const char *event, pcall_t *c, bool caller_block, bool dest_block);
void pbx_agent_complete(pbx_t *s, pcall_t *c, bool caller_block, bool dest_block, const char *reason);
void pbx_set_cid_pair(pchan_t *one, pchan_t *two, const char *num, const char *name, bool one_con);
void pbx_drop_member_legs(pbx_t *s, pcall_t *c, bool cancel_twice);
void pbx_release_member(pbx_t *s, pcall_t *c, bool status_event);
void pbx_kick_all(pbx_t *s);
void pbx_queue_join(pbx_t *s, pcall_t *c, pqueue_t *q);
void pbx_caller_leave_event(pbx_t *s, pcall_t *c, const char *event);
void pbx_queue_remove_caller(pqueue_t *q, pcall_t *c);
void pbx_agent_back_to_hold(pbx_t *s, pcall_t *c, bool moh);
void pbx_unref_call_bridges(pbx_t *s, pcall_t *c);
void pbx_orig_response(pbx_t *s, pcall_t *c, bool ok, int reason);
void pbx_orig_fail(pbx_t *s, pcall_t *c, uint64_t outcome);
void pbx_queue_call_end(pbx_t *s, pcall_t *c, int who);
void pbx_park_giveup(pbx_t *s, pcall_t *c, bool far_end);
void pbx_park_retrieve(pbx_t *s, pcall_t *orig);
void pbx_detached_end(pbx_t *s, pcall_t *c, bool far_end);
void pbx_atx_complete(pbx_t *s, pcall_t *c);
void pbx_drop_member_side(pbx_t *s, pcall_t *c);
/* callback.c: the callback context's Dial(${AGENTCHANNEL}) once the customer answered,
 * and its end before the agent answered (dial_status CANCEL when the customer went first;
 * the caller then ends the customer's legs itself). */
void pbx_cb_dial(pbx_t *s, pcall_t *c);
void pbx_cb_dial_end(pbx_t *s, pcall_t *c, const char *dial_status);
/* The agent a connected call talks to: its queue member's, or the callback's. */
pagent_t *pbx_call_agent(const pcall_t *c);

#endif
