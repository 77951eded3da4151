/*
 * A stand-in for the pacing unit (dialer/dl_pacing.h) in the dialer's integration tests:
 * progressive, one call per free agent not already covered by a call ringing or waiting;
 * preview places only reserved calls.  It records what it was told, so tests can check the
 * dialer feeds it.  The real unit (dl_pacing*.c, its own tests) replaces it in the daemon.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dialer/dl_pacing.h"
#include "test/dialer/pacer_double.h"

_Atomic uint64_t pd_outcomes, pd_connected, pd_abandoned, pd_done, pd_decisions;

struct dl_pacer {
    dl_pacing_params_t p;
};

dl_pacer_t *dl_pacer_new(const dl_pacing_params_t *p)
{
    dl_pacer_t *x = calloc(1, sizeof(*x));
    if (x)
        x->p = *p;
    return x;
}

void dl_pacer_free(dl_pacer_t *p)
{
    free(p);
}

void dl_pacer_set_params(dl_pacer_t *p, const dl_pacing_params_t *params)
{
    p->p = *params;
}

void dl_pacer_call_outcome(dl_pacer_t *p, int64_t now_ms, dl_outcome_e out, int64_t ring_ms)
{
    (void)p, (void)now_ms, (void)out, (void)ring_ms;
    atomic_fetch_add(&pd_outcomes, 1);
}

void dl_pacer_call_connected(dl_pacer_t *p, int64_t now_ms, int64_t wait_ms)
{
    (void)p, (void)now_ms, (void)wait_ms;
    atomic_fetch_add(&pd_connected, 1);
}

void dl_pacer_call_abandoned(dl_pacer_t *p, int64_t now_ms)
{
    (void)p, (void)now_ms;
    atomic_fetch_add(&pd_abandoned, 1);
}

void dl_pacer_agent_done(dl_pacer_t *p, int64_t now_ms, int64_t talk_ms, int64_t wrap_ms)
{
    (void)p, (void)now_ms, (void)talk_ms, (void)wrap_ms;
    atomic_fetch_add(&pd_done, 1);
}

int dl_pacer_decide(dl_pacer_t *p, const dl_pace_input_t *in)
{
    atomic_fetch_add(&pd_decisions, 1);
    if (p->p.mode == DL_MODE_PREVIEW)
        return in->calls_reserved;
    int n = in->agents_free - in->calls_ringing - in->calls_waiting;
    return n > 0 ? n : 0;
}

void dl_pacer_rates(const dl_pacer_t *p, int64_t now_ms, dl_pace_rates_t *out)
{
    (void)p, (void)now_ms;
    memset(out, 0, sizeof(*out));
}

void dl_pacer_seed(dl_pacer_t *p, uint64_t answered, uint64_t abandoned)
{
    (void)p, (void)answered, (void)abandoned;
}
