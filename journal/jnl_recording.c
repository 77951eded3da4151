/*
 * Recordings: one call_recording row per new recording file of a call (the registry call's
 * recording and nrecordings, set from MixMonitor's MIXMONITOR_FILENAME by ami_reg.c).  The
 * call's files decide when (jnl_call.c for outgoing, jnl_incoming.c for incoming: each
 * keeps how many files it wrote); this file only builds the row.  Journal thread only.
 */
#include "journal/jnl_int.h"


void jnl__recording(jnl_t *j, const reg_call_t *c, uint32_t shard, uint32_t id_call_outgoing,
                    uint32_t id_call_incoming)
{
    db_write_t *w = jnl__write_new(j, DB_W_RECORDING_ADD, shard);
    if (!w)
        return;
    db_w_recording_t *r = &w->u.recording;
    r->datetime_entry = jnl__to_time(0);
    r->id_call_outgoing = id_call_outgoing;
    r->id_call_incoming = id_call_incoming;
    /* the call's own leg fields are longer than the columns: cut to fit */
    jnl__cpy(r->uniqueid, sizeof(r->uniqueid),
             c->recording_uniqueid[0] ? c->recording_uniqueid : c->uniqueid);
    jnl__cpy(r->channel, sizeof(r->channel),
             c->recording_channel[0] ? c->recording_channel : c->channel);
    snprintf(r->recordingfile, sizeof(r->recordingfile), "%s", c->recording);
    jnl__submit(j, w);
}
