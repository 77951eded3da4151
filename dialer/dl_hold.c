/*
 * Holding an agent for its "same agent" callback.
 *
 * From the moment a callback is due until its call ends, its agent belongs to it: the
 * dialer counts the agent free for no other call (dl_reg.c), and Asterisk must not offer it
 * a queue call either.  Otherwise a queue call can take the agent while the callback's
 * customer rings, and the customer who answers is dropped when the callback context's Dial
 * finds the agent busy.  So the agent is paused in every queue with AMI_CB_PAUSE_REASON and
 * the pause is lifted when no callback of its is due or live.
 *
 * Level-triggered: each cycle compares what the dialer wants with what the registry shows
 * (reg_agent_t.cb_pause, from Asterisk's own events) and sends what closes the gap, again
 * after DL_HOLD_RESEND_MS while the gap stays.  A lost action, a reconnect or a restart of
 * either side is therefore mended by the next cycles, not by bookkeeping.
 *
 * What is lifted: a hold this engine set (in its present life), and a hold a resync found
 * (REG_CB_PAUSE_FOUND), which is how an engine that stopped before lifting its holds gets
 * them lifted when it comes back.  A hold that appears while connected and that this engine
 * did not set is another engine's, and stays theirs.  Nothing is sent for an agent on a
 * break or a hold: its pause is the agent service's, and lifting it would end the break.
 *
 * The holds list is the dialer thread's: dl__hold_note is called inside the registry
 * count (read lock held: it only notes, sends nothing), dl__holds_sync after it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "dialer/dl_int.h"

/* A pause or lift is sent again this long after the last one while the registry does not
 * show its effect. */
#define DL_HOLD_RESEND_MS 3000
/* A hold set and then no longer wanted is remembered this long even when the registry does
 * not show it: its QueueMemberPause may still be on its way, and must then be lifted. */
#define DL_HOLD_LATE_MS 30000

struct dl_hold {
    char agent[REG_ID_LEN];
    int server;
    int64_t held_ms;  /* clk_mono_ms of the last pause this engine sent; 0 = never */
    int64_t sent_ms;  /* of the last action, pause or lift */
    bool lift_sent;   /* the last action was a lift */
    /* This cycle's count: */
    bool seen, want, blocked;
    uint8_t cb_pause;
};

static dl_hold_t *find(dl_t *d, const char *agent, int server)
{
    for (size_t i = 0; i < d->nholds; i++)
        if (d->holds[i].server == server && strcmp(d->holds[i].agent, agent) == 0)
            return &d->holds[i];
    return NULL;
}

void dl__hold_note(dl_t *d, const reg_agent_t *a, bool want)
{
    /* Nothing to note for the many agents neither wanted nor paused: a hold not seen in the
     * count is read as exactly that (dl__holds_sync), so no lookup per agent per cycle. */
    if (!want && a->cb_pause == REG_CB_PAUSE_NONE)
        return;
    dl_hold_t *h = find(d, a->number, a->server);
    if (!h) {
        if (d->nholds == d->capholds) {
            size_t cap = d->capholds ? d->capholds * 2 : 16;
            dl_hold_t *p = realloc(d->holds, cap * sizeof(*p));
            if (!p)
                return; /* noted again next cycle */
            d->holds = p;
            d->capholds = cap;
        }
        h = &d->holds[d->nholds++];
        memset(h, 0, sizeof(*h));
        snprintf(h->agent, sizeof(h->agent), "%s", a->number);
        h->server = a->server;
    }
    h->seen = true;
    h->want = want;
    h->blocked = a->break_id != 0 || a->on_hold;
    h->cb_pause = a->cb_pause;
}

static void send_hold(dl_t *d, dl_hold_t *h, bool pause, int64_t now)
{
    char iface[REG_CHAN_LEN], id[AMI_ACTIONID_LEN];
    dl__agent_channel(h->agent, d->cf->agents.agents_context, iface, sizeof(iface));
    ami_action_t *a = ami_op_queue_pause(iface, NULL, pause, pause ? AMI_CB_PAUSE_REASON : NULL);
    snprintf(id, sizeof(id), "%s%llu-%.40s", DL_HOLD_ID_PREFIX,
             (unsigned long long)++d->hold_seq, h->agent);
    ami_send_opts_t so = {.reply_mq = d->inbox, .action_id = id};
    int rc = a ? ami_send(d->ami, h->server, a, &so, NULL) : CCD_ENOMEM;
    h->sent_ms = now;
    h->lift_sent = !pause;
    if (rc) {
        LOG_WARN_RL(DL_LOG, "%s of %s for its callback not sent (%s): tried again",
                    pause ? "QueuePause" : "QueuePause (lift)", h->agent, ccd_strerror(rc));
        return;
    }
    if (pause)
        h->held_ms = now;
    atomic_fetch_add(pause ? &d->st_holds : &d->st_lifts, 1);
}

void dl__holds_sync(dl_t *d)
{
    int64_t now = clk_mono_ms();
    int64_t held = 0;
    size_t o = 0;
    for (size_t i = 0; i < d->nholds; i++) {
        dl_hold_t *h = &d->holds[i];
        if (!h->seen) { /* noted by no count: neither wanted nor paused */
            h->want = false;
            h->blocked = false;
            h->cb_pause = REG_CB_PAUSE_NONE;
        }
        bool up = ami_server_state(d->ami, h->server) == AMI_STATE_UP;
        bool due = h->sent_ms == 0 || now - h->sent_ms >= DL_HOLD_RESEND_MS;
        if (h->want && h->cb_pause != REG_CB_PAUSE_NONE)
            held++;
        if (up && d->cf->dialer.callback_hold && !h->blocked && h->want &&
            h->cb_pause == REG_CB_PAUSE_NONE && (due || h->lift_sent)) {
            send_hold(d, h, true, now);
        } else if (up && !h->blocked && !h->want && h->cb_pause != REG_CB_PAUSE_NONE &&
                   (h->cb_pause == REG_CB_PAUSE_FOUND || h->held_ms) && (due || !h->lift_sent)) {
            send_hold(d, h, false, now);
        }
        bool settled = !h->want && h->cb_pause == REG_CB_PAUSE_NONE &&
                       (h->held_ms == 0 || now - h->held_ms >= DL_HOLD_LATE_MS);
        if (settled)
            continue; /* nothing of it left to do */
        h->seen = false;
        d->holds[o++] = *h;
    }
    d->nholds = o;
    atomic_store(&d->st_held, held);
}

void dl__hold_answered(dl_t *d, ami_response_t *r)
{
    (void)d;
    if (r->status == CCD_OK && r->ok)
        return;
    /* Not held: the count goes on keeping the agent from the campaign's other calls, and the
     * next cycles send it again; a refusal here is worth a line, not more. */
    LOG_WARN_RL(DL_LOG, "QueuePause %s for a callback's agent refused (%s)",
                r->action_id + strlen(DL_HOLD_ID_PREFIX),
                r->status == CCD_OK ? ami_rec_get(r->resp, "Message") : ccd_strerror(r->status));
}

void dl__holds_release(dl_t *d)
{
    int64_t now = clk_mono_ms();
    for (size_t i = 0; i < d->nholds; i++) {
        dl_hold_t *h = &d->holds[i];
        if (h->held_ms && h->cb_pause != REG_CB_PAUSE_NONE && !h->blocked &&
            ami_server_state(d->ami, h->server) == AMI_STATE_UP)
            send_hold(d, h, false, now);
    }
}

void dl__holds_free(dl_t *d)
{
    free(d->holds);
    d->holds = NULL;
    d->nholds = d->capholds = 0;
}
