/* Virtual-time timers: a binary min-heap ordered by (time, insertion). */
#include <stdlib.h>

#include "core/err.h"
#include "tools/pbxsim/pbxsim_int.h"

static bool before(const ptimer_t *a, const ptimer_t *b)
{
    return a->at_vms < b->at_vms || (a->at_vms == b->at_vms && a->seq < b->seq);
}

static void swap(ptimer_t *a, ptimer_t *b)
{
    ptimer_t t = *a;
    *a = *b;
    *b = t;
}

int pbx_timer_add(pbx_t *s, int64_t delay_vms, ptimer_fn fn, pcall_t *call, uint64_t arg)
{
    if (s->ntimers == s->captimers) {
        size_t nc = s->captimers ? s->captimers * 2 : 64;
        ptimer_t *nt = realloc(s->timers, nc * sizeof *nt);
        if (!nt)
            return CCD_ENOMEM;
        s->timers = nt;
        s->captimers = nc;
    }
    size_t i = s->ntimers++;
    s->timers[i] = (ptimer_t){pbx_vnow(s) + (delay_vms < 0 ? 0 : delay_vms), s->timer_seq++, fn, call, arg};
    if (call)
        pbx_call_ref(call);
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&s->timers[i], &s->timers[p]))
            break;
        swap(&s->timers[i], &s->timers[p]);
        i = p;
    }
    return 0;
}

int64_t pbx_timer_next(pbx_t *s)
{
    return s->ntimers ? s->timers[0].at_vms : -1;
}

static ptimer_t pop(pbx_t *s)
{
    ptimer_t top = s->timers[0];
    s->timers[0] = s->timers[--s->ntimers];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->ntimers && before(&s->timers[l], &s->timers[m]))
            m = l;
        if (r < s->ntimers && before(&s->timers[r], &s->timers[m]))
            m = r;
        if (m == i)
            break;
        swap(&s->timers[i], &s->timers[m]);
        i = m;
    }
    return top;
}

void pbx_timer_run(pbx_t *s)
{
    int64_t now = pbx_vnow(s);
    /* Bounded per turn so sockets keep being served under heavy load. */
    for (int n = 0; n < 10000 && s->ntimers && s->timers[0].at_vms <= now; n++) {
        ptimer_t t = pop(s);
        if (!t.call || !t.call->dead)
            t.fn(s, t.call, t.arg);
        if (t.call)
            pbx_call_unref(s, t.call);
    }
}

void pbx_timer_clear(pbx_t *s)
{
    while (s->ntimers) {
        ptimer_t t = pop(s);
        if (t.call)
            pbx_call_unref(s, t.call);
    }
}
