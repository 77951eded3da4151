/*
 * The simulation behind bench/pacing (see pacing_sim.h).  Time is virtual, in ms; events
 * sit in a binary heap ordered by (time, insertion order), so a run is a pure function of
 * the scenario and the policy.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/dialer/pacing_sim.h"
#include "dialer/dl_pacing.h"

#define FIRST_HOUR_MS 3600000LL
#define MIN_MS 60000LL
#define DAY_MIN 1440
#define POOL (1 << 16) /* calls in flight at most (far above what any policy here uses) */

/* ---- the list of numbers: call i's fate is a function of (seed, i) alone ---- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *x)
{
    return ((double)(splitmix(x) >> 11) + 0.5) / 9007199254740992.0;
}

static double lognormal(uint64_t *x, double mean, double sd)
{
    double s2 = log(1.0 + (sd * sd) / (mean * mean));
    double mu = log(mean) - s2 / 2;
    double z = sqrt(-2.0 * log(uniform(x))) * cos(2.0 * 3.14159265358979323846 * uniform(x));
    return exp(mu + sqrt(s2) * z);
}

enum { FATE_FAILED, FATE_NOANSWER, FATE_ANSWERED };

typedef struct fate {
    int kind;
    int64_t ring_ms; /* placing to answer / failure / timeout */
    int64_t talk_ms, wrap_ms;
} fate_t;

/* The time to answer of an answered call (blind: of any call), within the ring time. */
static int64_t answer_ms(const sim_scenario_t *sc, uint64_t *x)
{
    double d = lognormal(x, sc->answer_mean_s, sc->answer_sd_s) * 1000;
    double timeout = sc->ring_timeout_s * 1000;
    return (int64_t)(d < 1000 ? 1000 : d > timeout - 500 ? timeout - 500 : d);
}

/* The memoryless campaigns' time to a call's end, answered or not. */
static int64_t memoryless_end_ms(const sim_scenario_t *sc, uint64_t *x)
{
    if (sc->memoryless == 1)
        return (int64_t)(-log(1.0 - uniform(x)) * sc->answer_mean_s * 1000);
    double h = 2 / (sc->answer_mean_s + 0.5), steps = 0;
    for (int phase = 0; phase < 2; phase++)
        steps += 1 + floor(log(uniform(x)) / log(1 - h));
    return (int64_t)((steps - uniform(x)) * 1000);
}

static fate_t fate_of(const sim_scenario_t *sc, uint64_t i)
{
    uint64_t x = sc->seed * 0x2545f4914f6cdd1dULL ^ (i * 0x9e3779b97f4a7c15ULL);
    fate_t f = {0};
    double u = uniform(&x);
    if (sc->memoryless || sc->blind) {
        f.kind = u < sc->p_answer ? FATE_ANSWERED : FATE_NOANSWER;
        f.ring_ms = sc->memoryless ? memoryless_end_ms(sc, &x) : answer_ms(sc, &x);
    } else if (u < sc->p_answer) {
        f.kind = FATE_ANSWERED;
        f.ring_ms = answer_ms(sc, &x);
    } else if (u < sc->p_answer + sc->fail_share) {
        f.kind = FATE_FAILED;
        f.ring_ms = (int64_t)(1000 + 5000 * uniform(&x));
    } else {
        f.kind = FATE_NOANSWER;
        f.ring_ms = (int64_t)(sc->ring_timeout_s * 1000);
    }
    if (sc->memoryless) {
        f.talk_ms = (int64_t)(-log(1.0 - uniform(&x)) * sc->talk_mean_s * 1000);
    } else {
        double talk = lognormal(&x, sc->talk_mean_s, sc->talk_mean_s * sc->talk_cv) * 1000;
        f.talk_ms = (int64_t)(talk < 5000 ? 5000 : talk);
    }
    if (sc->wrap_mean_s > 0) {
        f.wrap_ms = (int64_t)((sc->wrap_mean_s - 1 + 2 * uniform(&x)) * 1000);
        if (f.wrap_ms < 0)
            f.wrap_ms = 0;
    }
    return f;
}

/* ---- events ---- */

enum { EV_CYCLE, EV_RESOLVE, EV_ABANDON, EV_TALK_END, EV_READY, EV_PLACE };

typedef struct event {
    int64_t t;
    uint64_t seq;
    int type;
    int id;       /* call slot, agent, or (EV_PLACE) agent the call is meant for */
    uint64_t num; /* EV_PLACE: the list index to place; EV_ABANDON: the call's generation */
} event_t;

typedef struct heap {
    event_t *e;
    int n, cap;
    uint64_t seq;
} heap_t;

static bool ev_less(const event_t *a, const event_t *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int heap_push(heap_t *h, int64_t t, int type, int id, uint64_t num)
{
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 1024;
        event_t *e = realloc(h->e, (size_t)cap * sizeof *e);
        if (!e)
            return -1;
        h->e = e;
        h->cap = cap;
    }
    event_t ev = {.t = t, .seq = h->seq++, .type = type, .id = id, .num = num};
    int i = h->n++;
    while (i > 0 && ev_less(&ev, &h->e[(i - 1) / 2])) {
        h->e[i] = h->e[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->e[i] = ev;
    return 0;
}

static event_t heap_pop(heap_t *h)
{
    event_t top = h->e[0], last = h->e[--h->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && ev_less(&h->e[c + 1], &h->e[c]))
            c++;
        if (!ev_less(&h->e[c], &last))
            break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->n > 0)
        h->e[i] = last;
    return top;
}

/* ---- the campaign ---- */

enum { CALL_FREE_SLOT, CALL_RINGING, CALL_WAITING, CALL_DONE };
enum { AG_FREE, AG_TALK, AG_WRAP };

typedef struct call {
    int state;
    int ring_pos; /* index in ringing[] while ringing */
    uint64_t gen; /* bumped at each reuse of the slot: a late event for its former call is stale */
    int64_t placed_at, answered_at;
    fate_t fate;
} call_t;

typedef struct agent {
    int state;
    int64_t busy_since; /* when the current call was connected */
    int64_t wrap_since; /* when its wrap-up began; -1 while talking */
    int64_t talk_ms, wrap_ms;
} agent_t;

typedef struct sim {
    const sim_scenario_t *sc;
    sim_policy_e pol;
    double ratio;
    int64_t end;
    heap_t h;
    call_t *calls;
    int *free_slots, nfree_slots;
    int *ringing, nringing;             /* call slots */
    int64_t *ringing_since;             /* parallel to ringing[] */
    int *waitq, wq_head, wq_len;        /* FIFO of call slots, size POOL */
    agent_t *agents;
    int *idle, idle_head, idle_len;     /* FIFO of free agents: longest idle first */
    int64_t *busy_since, *wrap_since, *ready_at; /* scratch for the pacer's input */
    uint64_t next_number;
    dl_pacer_t *pacer;
    dl_pacing_params_t prm;
    bool restarted;
    /* Issabel's inputs: last 20 answer delays, running mean of talk time */
    int64_t ans_hist[20];
    int ans_n;
    double talk_sum;
    uint64_t talk_n;
    /* figures */
    double talk_total_ms;
    double talk_first_hour_ms; /* of it, inside the first hour: how fast a new pacer warms up */
    double talk_restart_hour_ms; /* of it, inside the hour from restart_at_min */
    uint64_t placed, answered, connected, abandoned;
    uint64_t decisions;
    double decide_ns;
    uint32_t *min_answered, *min_abandoned;
    int minutes;
} sim_t;

static void count_minute(uint32_t *m, const sim_t *s, int64_t t)
{
    int64_t i = t / MIN_MS;
    if (i >= 0 && i < s->minutes)
        m[i]++;
}

static int place(sim_t *s, int64_t now, uint64_t number)
{
    if (s->nfree_slots == 0)
        return -1;
    int c = s->free_slots[--s->nfree_slots];
    call_t *k = &s->calls[c];
    k->gen++;
    k->state = CALL_RINGING;
    k->placed_at = now;
    k->fate = fate_of(s->sc, number);
    k->ring_pos = s->nringing;
    s->ringing[s->nringing] = c;
    s->ringing_since[s->nringing] = now;
    s->nringing++;
    s->placed++;
    return heap_push(&s->h, now + k->fate.ring_ms, EV_RESOLVE, c, 0);
}

static void unring(sim_t *s, int c)
{
    int pos = s->calls[c].ring_pos, last = s->ringing[--s->nringing];
    s->ringing[pos] = last;
    s->ringing_since[pos] = s->ringing_since[s->nringing];
    s->calls[last].ring_pos = pos;
}

static void release(sim_t *s, int c)
{
    s->calls[c].state = CALL_FREE_SLOT;
    s->free_slots[s->nfree_slots++] = c;
}

static int connect_call(sim_t *s, int64_t now, int c, int a)
{
    call_t *k = &s->calls[c];
    agent_t *g = &s->agents[a];
    int64_t wait = now - k->answered_at;
    if (s->pacer)
        dl_pacer_call_connected(s->pacer, now, wait);
    if (wait > (int64_t)(s->sc->grace_s * 1000)) {
        s->abandoned++; /* reached an agent, but too late: the law counts it abandoned */
        count_minute(s->min_abandoned, s, now);
    }
    s->connected++;
    g->state = AG_TALK;
    g->busy_since = now;
    g->wrap_since = -1;
    g->talk_ms = k->fate.talk_ms;
    g->wrap_ms = k->fate.wrap_ms;
    int64_t talk_end = now + g->talk_ms;
    s->talk_total_ms += (double)((talk_end < s->end ? talk_end : s->end) - now);
    if (now < FIRST_HOUR_MS)
        s->talk_first_hour_ms += (double)((talk_end < FIRST_HOUR_MS ? talk_end : FIRST_HOUR_MS) - now);
    int64_t r0 = (int64_t)s->sc->restart_at_min * MIN_MS, r1 = r0 + FIRST_HOUR_MS;
    int64_t from = now > r0 ? now : r0, to = talk_end < r1 ? talk_end : r1;
    if (s->sc->restart_at_min && to > from)
        s->talk_restart_hour_ms += (double)(to - from);
    release(s, c);
    if (s->pol == SIM_CLAIRVOYANT) {
        /* It knows when this agent will be ready: the next number that will answer is
         * placed so that it answers right then. */
        int64_t ready = talk_end + g->wrap_ms;
        while (fate_of(s->sc, s->next_number).kind != FATE_ANSWERED)
            s->next_number++;
        uint64_t num = s->next_number++;
        int64_t at = ready - fate_of(s->sc, num).ring_ms;
        if (heap_push(&s->h, at > now ? at : now, EV_PLACE, a, num))
            return -1;
    }
    return heap_push(&s->h, talk_end, EV_TALK_END, a, 0);
}

static int agent_ready(sim_t *s, int64_t now, int a)
{
    s->agents[a].state = AG_FREE;
    while (s->wq_len > 0) {
        int c = s->waitq[s->wq_head];
        s->wq_head = (s->wq_head + 1) % POOL;
        s->wq_len--;
        if (s->calls[c].state == CALL_WAITING)
            return connect_call(s, now, c, a);
        release(s, c); /* abandoned while queued */
    }
    s->idle[(s->idle_head + s->idle_len) % s->sc->agents] = a;
    s->idle_len++;
    return 0;
}

static int resolve(sim_t *s, int64_t now, int c)
{
    call_t *k = &s->calls[c];
    unring(s, c);
    dl_outcome_e out = k->fate.kind == FATE_ANSWERED  ? DL_OUT_ANSWERED
                       : k->fate.kind == FATE_FAILED ? DL_OUT_FAILED
                                                      : DL_OUT_NOANSWER;
    if (s->pacer)
        dl_pacer_call_outcome(s->pacer, now, out, k->fate.ring_ms);
    if (out != DL_OUT_ANSWERED) {
        release(s, c);
        return 0;
    }
    s->answered++;
    count_minute(s->min_answered, s, now);
    s->ans_hist[s->ans_n++ % 20] = k->fate.ring_ms;
    k->answered_at = now;
    if (s->idle_len > 0) {
        int a = s->idle[s->idle_head];
        s->idle_head = (s->idle_head + 1) % s->sc->agents;
        s->idle_len--;
        return connect_call(s, now, c, a);
    }
    k->state = CALL_WAITING;
    s->waitq[(s->wq_head + s->wq_len) % POOL] = c;
    s->wq_len++;
    return heap_push(&s->h, now + (int64_t)(s->sc->grace_s * 1000), EV_ABANDON, c, k->gen);
}

static void abandon(sim_t *s, int64_t now, int c, uint64_t gen)
{
    call_t *k = &s->calls[c];
    if (k->gen != gen || k->state != CALL_WAITING)
        return; /* connected in time (and maybe its slot reused since) */
    k->state = CALL_DONE; /* its slot is freed when the queue reaches it */
    s->abandoned++;
    count_minute(s->min_abandoned, s, now);
    if (s->pacer)
        dl_pacer_call_abandoned(s->pacer, now);
}

/* Issabel's cycle (reference §4 steps 6-7, defaults qos 0.97, tiempo_contestar 8 s, no
 * overcommit, no forced extra).  Asterisk shows an agent in wrap-up as NOT_INUSE, so
 * Issabel counts it free; a talking agent is "about to free" when an exponential call of
 * the campaign's mean length would have ended by (elapsed + time to answer) with
 * probability >= qos. */
static int issabel_decide(sim_t *s, int64_t now)
{
    int free = 0, about = 0;
    double t_answer = 0;
    for (int i = 0; i < 20; i++)
        t_answer += i < s->ans_n ? (double)s->ans_hist[i] / 1000 : 8.0;
    t_answer /= 20;
    double avg = s->talk_n ? s->talk_sum / (double)s->talk_n : 0;
    for (int a = 0; a < s->sc->agents; a++) {
        const agent_t *g = &s->agents[a];
        if (g->state != AG_TALK)
            free++;
        else if (s->talk_n >= 10 && avg > 0 &&
                 1.0 - exp(-(t_answer + (double)(now - g->busy_since) / 1000) / avg) >= 0.97)
            about++;
    }
    int n = free + about - s->wq_len;
    if (n <= 0)
        return 0;
    n -= s->nringing;
    return n > 0 ? n : 0;
}

static int decide(sim_t *s, int64_t now)
{
    int nbusy = 0;
    for (int a = 0; a < s->sc->agents; a++) {
        if (s->agents[a].state != AG_FREE) {
            const agent_t *g = &s->agents[a];
            s->wrap_since[nbusy] = g->wrap_since;
            s->ready_at[nbusy] = g->wrap_since >= 0 ? g->wrap_since + g->wrap_ms
                                                    : g->busy_since + g->talk_ms + g->wrap_ms;
            s->busy_since[nbusy++] = g->busy_since;
        }
    }
    switch (s->pol) {
    case SIM_ISSABEL:
        return issabel_decide(s, now);
    case SIM_RATIO_FREE:
        return (int)floor(s->ratio * s->idle_len + 0.5) - s->nringing - s->wq_len;
    case SIM_CLAIRVOYANT:
        return 0;
    case SIM_PROGRESSIVE:
    case SIM_PREDICTIVE:
    case SIM_AGENT_ORACLE:
    default: {
        dl_pace_input_t in = {.now_ms = now,
                              .agents_free = s->idle_len,
                              .agents_busy = nbusy,
                              .busy_since_ms = s->busy_since,
                              .calls_ringing = s->nringing,
                              .ringing_since_ms = s->ringing_since,
                              .calls_waiting = s->wq_len,
                              .wrap_since_ms = s->wrap_since,
                              .ready_at_ms = s->pol == SIM_AGENT_ORACLE ? s->ready_at : NULL};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int n = dl_pacer_decide(s->pacer, &in);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        s->decisions++;
        s->decide_ns += (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
        return n;
    }
    }
}

static double worst_window(const sim_t *s)
{
    int w = s->minutes < DAY_MIN ? s->minutes : DAY_MIN;
    uint64_t a = 0, x = 0;
    for (int i = 0; i < w; i++) {
        a += s->min_answered[i];
        x += s->min_abandoned[i];
    }
    double worst = a ? (double)x / (double)a : 0;
    for (int i = w; i < s->minutes; i++) {
        a = a + s->min_answered[i] - s->min_answered[i - w];
        x = x + s->min_abandoned[i] - s->min_abandoned[i - w];
        double r = a ? (double)x / (double)a : 0;
        if (r > worst)
            worst = r;
    }
    return worst;
}

/* The engine restarts: a new pacer, seeded from what the database would give it (the
 * answered and abandoned calls per minute here, where the dialer reads 30-minute buckets). */
static int restart_pacer(sim_t *s, int64_t now)
{
    dl_pacer_t *p = dl_pacer_new(&s->prm);
    if (!p)
        return -1;
    int64_t upto = now / MIN_MS;
    for (int64_t i = upto > 30 * DAY_MIN ? upto - 30 * DAY_MIN : 0; i < upto && i < s->minutes; i++)
        if (s->min_answered[i])
            dl_pacer_seed_window(p, i * MIN_MS, s->min_answered[i], s->min_abandoned[i]);
    dl_pacer_seed(p, s->answered, s->abandoned);
    if (s->sc->restart == SIM_RESTART_KEEP || s->sc->restart == SIM_RESTART_STATE)
        dl_pacer_seed_allowance(p, dl_pacer_allowance(s->pacer), s->prm.abandon_target, 0);
    if (s->sc->restart == SIM_RESTART_STATE) {
        static char line[DL_PACER_ESTIMATES_MAX];
        if (dl_pacer_export_estimates(s->pacer, now, line, sizeof line) < 0 ||
            dl_pacer_seed_estimates(p, now, line, 0) != 0) {
            dl_pacer_free(p);
            return -1;
        }
    }
    dl_pacer_free(s->pacer);
    s->pacer = p;
    s->restarted = true;
    return 0;
}

static int run(sim_t *s)
{
    const sim_scenario_t *sc = s->sc;
    for (int a = 0; a < sc->agents; a++)
        s->idle[s->idle_len++] = a;
    if (s->pol == SIM_CLAIRVOYANT) {
        /* Everyone starts free: one sure answer each, as early as possible. */
        for (int a = 0; a < sc->agents; a++) {
            while (fate_of(sc, s->next_number).kind != FATE_ANSWERED)
                s->next_number++;
            if (heap_push(&s->h, 0, EV_PLACE, a, s->next_number++))
                return -1;
        }
    } else if (heap_push(&s->h, 0, EV_CYCLE, 0, 0)) {
        return -1;
    }
    int64_t cycle_ms = s->pol == SIM_ISSABEL ? 5000 : 1000;
    while (s->h.n > 0) {
        event_t ev = heap_pop(&s->h);
        if (ev.t >= s->end)
            break;
        int rc = 0;
        switch (ev.type) {
        case EV_CYCLE: {
            if (s->pacer && !s->restarted && sc->restart != SIM_RESTART_NONE &&
                ev.t >= (int64_t)sc->restart_at_min * MIN_MS && restart_pacer(s, ev.t))
                return -1;
            int n = decide(s, ev.t);
            for (int i = 0; i < n && rc == 0; i++)
                rc = place(s, ev.t, s->next_number++);
            if (rc == 0)
                rc = heap_push(&s->h, ev.t + cycle_ms, EV_CYCLE, 0, 0);
            break;
        }
        case EV_PLACE:
            rc = place(s, ev.t, ev.num);
            break;
        case EV_RESOLVE:
            rc = resolve(s, ev.t, ev.id);
            break;
        case EV_ABANDON:
            abandon(s, ev.t, ev.id, ev.num);
            break;
        case EV_TALK_END: {
            agent_t *g = &s->agents[ev.id];
            g->state = AG_WRAP;
            g->wrap_since = ev.t;
            s->talk_sum += (double)g->talk_ms / 1000;
            s->talk_n++;
            rc = heap_push(&s->h, ev.t + g->wrap_ms, EV_READY, ev.id, 0);
            break;
        }
        case EV_READY:
            if (s->pacer)
                dl_pacer_agent_done(s->pacer, ev.t, s->agents[ev.id].talk_ms,
                                    s->agents[ev.id].wrap_ms);
            rc = agent_ready(s, ev.t, ev.id);
            break;
        default:
            break;
        }
        if (rc)
            return -1;
    }
    return 0;
}

int sim_run(const sim_scenario_t *sc, sim_policy_e pol, double ratio, sim_result_t *out)
{
    sim_t s = {.sc = sc, .pol = pol, .ratio = ratio};
    s.end = (int64_t)sc->hours * 60 * MIN_MS;
    s.minutes = sc->hours * 60;
    s.calls = calloc(POOL, sizeof *s.calls);
    s.free_slots = malloc(POOL * sizeof *s.free_slots);
    s.ringing = malloc(POOL * sizeof *s.ringing);
    s.ringing_since = malloc(POOL * sizeof *s.ringing_since);
    s.waitq = malloc(POOL * sizeof *s.waitq);
    s.agents = calloc((size_t)sc->agents, sizeof *s.agents);
    s.idle = malloc((size_t)sc->agents * sizeof *s.idle);
    s.busy_since = malloc((size_t)sc->agents * sizeof *s.busy_since);
    s.wrap_since = malloc((size_t)sc->agents * sizeof *s.wrap_since);
    s.ready_at = malloc((size_t)sc->agents * sizeof *s.ready_at);
    s.min_answered = calloc((size_t)s.minutes, sizeof *s.min_answered);
    s.min_abandoned = calloc((size_t)s.minutes, sizeof *s.min_abandoned);
    int rc = -1;
    if (!s.calls || !s.free_slots || !s.ringing || !s.ringing_since || !s.waitq || !s.agents ||
        !s.idle || !s.busy_since || !s.wrap_since || !s.ready_at || !s.min_answered || !s.min_abandoned)
        goto out;
    for (int i = 0; i < POOL; i++)
        s.free_slots[s.nfree_slots++] = POOL - 1 - i;
    if (pol == SIM_PROGRESSIVE || pol == SIM_PREDICTIVE || pol == SIM_AGENT_ORACLE) {
        s.prm = (dl_pacing_params_t){
            .mode = pol == SIM_PROGRESSIVE ? DL_MODE_PROGRESSIVE : DL_MODE_PREDICTIVE,
            .abandon_target = sc->abandon_target,
            .abandon_grace_ms = (int64_t)(sc->grace_s * 1000),
            .min_ring_ms = 15000,
            .max_channels = 0};
        s.pacer = dl_pacer_new(&s.prm);
        if (!s.pacer)
            goto out;
    }
    rc = run(&s);
    if (rc == 0) {
        double agent_ms = (double)sc->agents * (double)s.end;
        double agent_h = agent_ms / 3600000.0;
        *out = (sim_result_t){
            .occupancy = s.talk_total_ms / agent_ms,
            .first_hour_occupancy = s.talk_first_hour_ms / ((double)sc->agents * FIRST_HOUR_MS),
            .restart_hour_occupancy = s.talk_restart_hour_ms / ((double)sc->agents * FIRST_HOUR_MS),
            .abandon = s.answered ? (double)s.abandoned / (double)s.answered : 0,
            .worst24h = worst_window(&s),
            .calls_per_agent_hour = (double)s.connected / agent_h,
            .placed_per_agent_hour = (double)s.placed / agent_h,
            .placed = s.placed,
            .answered = s.answered,
            .connected = s.connected,
            .abandoned = s.abandoned,
            .decisions = s.decisions,
            .decide_ns = s.decide_ns,
        };
    }
out:
    dl_pacer_free(s.pacer);
    free(s.h.e);
    free(s.calls);
    free(s.free_slots);
    free(s.ringing);
    free(s.ringing_since);
    free(s.waitq);
    free(s.agents);
    free(s.idle);
    free(s.busy_since);
    free(s.wrap_since);
    free(s.ready_at);
    free(s.min_answered);
    free(s.min_abandoned);
    return rc;
}
